//! LVM volume groups on the plan's partitions: their metadata saved with
//! `vgcfgbackup` (the text file LVM itself restores from) and recreated on
//! the new disks with `pvcreate --uuid --restorefile` and `vgcfgrestore`, so
//! volume group, physical and logical volume names, UUIDs and sizes are the
//! same.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::plan::Place;
use crate::sys::{self, SysError};

/// A volume group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VolumeGroup {
    pub name: String,
    pub uuid: String,
    /// Its vgcfgbackup file in DIR.
    pub metadata: String,
    #[serde(rename = "pv")]
    pub pvs: Vec<PhysicalVolume>,
    #[serde(default, rename = "lv")]
    pub lvs: Vec<LogicalVolume>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PhysicalVolume {
    #[serde(flatten)]
    pub place: Place,
    pub uuid: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogicalVolume {
    pub name: String,
    pub uuid: String,
    pub size_bytes: u64,
}

#[derive(Deserialize)]
struct Report<T> {
    report: Vec<T>,
}
#[derive(Deserialize)]
struct PvReport {
    pv: Vec<PvRow>,
}
#[derive(Deserialize)]
struct PvRow {
    pv_name: String,
    pv_uuid: String,
    vg_name: String,
    vg_uuid: String,
}
#[derive(Deserialize)]
struct LvReport {
    lv: Vec<LvRow>,
}
#[derive(Deserialize)]
struct LvRow {
    lv_name: String,
    lv_uuid: String,
    lv_size: String,
}

fn lvm_json<T: for<'de> Deserialize<'de>>(args: &[&str]) -> Result<Vec<T>, SysError> {
    let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    a.extend(["--reportformat", "json", "--units", "b", "--nosuffix"].map(String::from));
    let out = sys::run("lvm", &a, None)?;
    let r: Report<T> = serde_json::from_str(&out).map_err(|e| {
        SysError::Other(format!(
            "lvm {} gave output rrecover cannot read: {e}",
            args[0]
        ))
    })?;
    Ok(r.report)
}

/// Records the volume groups whose physical volumes are `pvs` (place and
/// node), saving each one's metadata as DIR/lvm-VG.vg.
pub fn record(dir: &Path, pvs: &[(Place, String)]) -> Result<Vec<VolumeGroup>, SysError> {
    if pvs.is_empty() {
        return Ok(Vec::new());
    }
    // --devices: lvm looks at the plan's partitions only, never at other
    // disks (a second copy of the same volume group must not confuse it).
    let devices = pvs
        .iter()
        .map(|p| p.1.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let args = [
        "pvs",
        "--devices",
        &devices,
        "-o",
        "pv_name,pv_uuid,vg_name,vg_uuid",
    ];
    let rows: Vec<PvRow> = lvm_json::<PvReport>(&args)?
        .into_iter()
        .flat_map(|r| r.pv)
        .collect();
    let mut groups: BTreeMap<String, VolumeGroup> = BTreeMap::new();
    for row in rows.into_iter().filter(|r| !r.vg_name.is_empty()) {
        let Some((place, _)) = pvs.iter().find(|p| p.1 == row.pv_name) else {
            continue;
        };
        let vg = groups
            .entry(row.vg_name.clone())
            .or_insert_with(|| VolumeGroup {
                name: row.vg_name.clone(),
                uuid: row.vg_uuid.clone(),
                metadata: format!("lvm-{}.vg", row.vg_name),
                pvs: Vec::new(),
                lvs: Vec::new(),
            });
        vg.pvs.push(PhysicalVolume {
            place: *place,
            uuid: row.pv_uuid,
        });
    }
    for vg in groups.values_mut() {
        let file = dir.join(&vg.metadata).display().to_string();
        let a = ["vgcfgbackup", "--devices", &devices, "-f", &file, &vg.name];
        sys::run("lvm", &a.map(String::from), None)?;
        let a = [
            "lvs",
            "--devices",
            &devices,
            "-o",
            "lv_name,lv_uuid,lv_size",
            &vg.name,
        ];
        vg.lvs = lvm_json::<LvReport>(&a)?
            .into_iter()
            .flat_map(|r| r.lv)
            .map(|l| LogicalVolume {
                name: l.lv_name,
                uuid: l.lv_uuid,
                size_bytes: l.lv_size.trim().parse().unwrap_or(0),
            })
            .collect();
    }
    Ok(groups.into_values().collect())
}

/// The lvm command lines that recreate `vg` on the new partitions (`node`
/// of each physical volume's place): each PV with its UUID, then the
/// metadata. The logical volumes are left inactive. Every command is
/// limited (--devices) to the new partitions.
pub fn recreate(vg: &VolumeGroup, dir: &Path, node: &dyn Fn(Place) -> String) -> Vec<Vec<String>> {
    let file = dir.join(&vg.metadata).display().to_string();
    let all = vg
        .pvs
        .iter()
        .map(|p| node(p.place))
        .collect::<Vec<_>>()
        .join(",");
    let mut cmds: Vec<Vec<String>> = vg
        .pvs
        .iter()
        .map(|pv| {
            let n = node(pv.place);
            let a = [
                "pvcreate",
                "--devices",
                &n,
                "-ff",
                "-y",
                "--uuid",
                &pv.uuid,
                "--restorefile",
                &file,
                &n,
            ];
            a.map(String::from).to_vec()
        })
        .collect();
    let a = ["vgcfgrestore", "--devices", &all, "-f", &file, &vg.name];
    cmds.push(a.map(String::from).to_vec());
    cmds
}
