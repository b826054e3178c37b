#!/usr/bin/env python3
"""Random incremental chains: rdump levels 0..3 of a filesystem changed at random between
levels (new, changed, removed, renamed and swapped files and directories, hard links,
symlinks, mode changes, files become directories), each applied with `rrestore -r` and
with the reference `restore -r` in targets of their own; both must equal the source after
every level (contents, types, modes, hard-link groups).

Not part of CI (it takes minutes and is random); run it as root after changing rdump's
incremental selection or rrestore's incremental -r:

    cargo build --release -p rdump -p rrestore
    sudo python3 fuzz/incremental_chains.py target/release/rdump target/release/rrestore 30 1

Arguments: rdump, rrestore, number of chains, seed. A failing chain is copied to
/tmp/incsmoke/bad-N with its dumps. The reference restore hangs on some chains (its bug,
testdata/README.md "Known reference losses" 5): it is then stopped after 60 s and only
rrestore is checked for the rest of that chain.
"""
# Random incremental chains: random tree mutations, rdump level N -u, rrestore -r and restore -r
# in their own targets, both compared with the source after every level.
import os, random, subprocess, sys, shutil, time, filecmp, stat
RDUMP, RRESTORE = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]); seed = int(sys.argv[4])
W = "/tmp/incsmoke/w"  # work directory, emptied for every chain
def sh(*a, cwd=None, ok=True, timeout=None):
    p = subprocess.run(a, cwd=cwd, capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout)
    if ok and p.returncode != 0:
        raise RuntimeError(f"{a}: {p.returncode}: {p.stderr.decode(errors='replace')[-800:]}")
    return p
def snapshot(root):
    out = {}
    inos = {}
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n); rel = os.path.relpath(p, root)
            if rel in ("lost+found", "restoresymtable") or rel.startswith("lost+found/"): continue
            st = os.lstat(p)
            kind = "d" if stat.S_ISDIR(st.st_mode) else ("l" if stat.S_ISLNK(st.st_mode) else "f")
            data = open(p, "rb").read() if kind == "f" else (os.readlink(p) if kind == "l" else None)
            inos.setdefault(st.st_ino, []).append(rel)
            out[rel] = (kind, stat.S_IMODE(st.st_mode), data, st.st_ino)
    # hard-link groups as sets of names
    groups = sorted(tuple(sorted(v)) for v in inos.values() if len(v) > 1 and out[v[0]][0] == "f")
    return {k: v[:3] for k, v in out.items()}, groups
def mutate(root, rng, names):
    def all_paths(kind=None):
        r = []
        for dp, dns, fns in os.walk(root):
            if "lost+found" in dp: continue
            for n in (dns if kind == "d" else fns if kind == "f" else dns + fns):
                if n == "lost+found": continue
                r.append(os.path.join(dp, n))
        return r
    def dirs(): return [root] + [p for p in all_paths("d")]
    for _ in range(rng.randint(1, 12)):
        op = rng.choice(["new", "newdir", "write", "rm", "rmdir", "mv", "mvdir", "link", "swap", "chmod", "typechange", "symlink"])
        try:
            if op == "new":
                p = os.path.join(rng.choice(dirs()), f"f{next(names)}"); open(p, "wb").write(os.urandom(rng.randint(0, 5000)))
            elif op == "newdir":
                os.mkdir(os.path.join(rng.choice(dirs()), f"d{next(names)}"))
            elif op == "write":
                fs = all_paths("f"); fs = [f for f in fs if not os.path.islink(f)]
                if fs: open(rng.choice(fs), "ab").write(b"more\n")
            elif op == "rm":
                fs = all_paths("f")
                if fs: os.remove(rng.choice(fs))
            elif op == "rmdir":
                ds = all_paths("d")
                if ds: shutil.rmtree(rng.choice(ds))
            elif op == "mv":
                fs = all_paths("f")
                if fs: os.rename(rng.choice(fs), os.path.join(rng.choice(dirs()), f"m{next(names)}"))
            elif op == "mvdir":
                ds = all_paths("d")
                if ds:
                    src = rng.choice(ds); dst_parent = rng.choice(dirs())
                    if not (dst_parent + "/").startswith(src + "/"):
                        os.rename(src, os.path.join(dst_parent, f"md{next(names)}"))
            elif op == "link":
                fs = [f for f in all_paths("f") if not os.path.islink(f)]
                if fs: os.link(rng.choice(fs), os.path.join(rng.choice(dirs()), f"h{next(names)}"))
            elif op == "swap":
                xs = all_paths("f") if rng.random() < 0.5 else all_paths("d")
                if len(xs) >= 2:
                    a, b = rng.sample(xs, 2)
                    if not (b + "/").startswith(a + "/") and not (a + "/").startswith(b + "/"):
                        t = os.path.join(root, f"tmp{next(names)}")
                        os.rename(a, t); os.rename(b, a); os.rename(t, b)
            elif op == "chmod":
                xs = all_paths()
                if xs:
                    p = rng.choice(xs)
                    if not os.path.islink(p): os.chmod(p, rng.choice([0o600, 0o644, 0o755, 0o700]))
            elif op == "typechange":
                fs = [f for f in all_paths("f") if not os.path.islink(f)]
                if fs:
                    p = rng.choice(fs); os.remove(p); os.mkdir(p); open(os.path.join(p, "inner"), "w").write("x")
            elif op == "symlink":
                os.symlink(f"target{next(names)}", os.path.join(rng.choice(dirs()), f"s{next(names)}"))
        except OSError:
            pass
def counter():
    i = 0
    while True:
        i += 1; yield i
bad = 0
hung = 0
levels_checked = 0
for r in range(runs):
    rng = random.Random(seed * 1000 + r)
    shutil.rmtree(W, ignore_errors=True); os.makedirs(W)
    img = f"{W}/i.img"; src = f"{W}/src"; os.mkdir(src)
    sh("mke2fs", "-q", "-F", "-t", "ext4", "-b", "1024", img, "32M")
    names = counter()
    theirs_alive = True
    for d in ["ours", "theirs", "mnt"]: os.mkdir(f"{W}/{d}")
    try:
        for level in range(rng.randint(2, 4)):
            sh("mount", "-o", "loop", img, f"{W}/mnt")
            try:
                mutate(f"{W}/mnt", rng, names) if level > 0 else [mutate(f"{W}/mnt", rng, names) for _ in range(3)]
            finally:
                sh("umount", f"{W}/mnt")
            time.sleep(1.05)
            out = f"{W}/l{level}.dump"
            sh(RDUMP, f"-{level}", "-u", "-D", f"{W}/dd", "-f", out, img)
            time.sleep(1.05)
            sh(RRESTORE, "-rf", out, cwd=f"{W}/ours", timeout=120)
            levels_checked += 1
            if theirs_alive:
                try:
                    sh("/usr/sbin/restore", "-rf", out, cwd=f"{W}/theirs", timeout=60)
                except subprocess.TimeoutExpired:
                    hung += 1; theirs_alive = False
                    print(f"run {r} level {level}: the reference restore hung (restore 0.4b47 bug); checking rrestore only from here")
            sh("mount", "-o", "loop,ro", img, f"{W}/mnt")
            try:
                want = snapshot(f"{W}/mnt")
            finally:
                sh("umount", f"{W}/mnt")
            for who in (["ours", "theirs"] if theirs_alive else ["ours"]):
                got = snapshot(f"{W}/{who}")
                if got != want:
                    bad += 1
                    a, b = got[0], want[0]
                    diff = sorted(set(a) ^ set(b))[:10] + [k for k in a if k in b and a[k] != b[k]][:10]
                    print(f"run {r} level {level}: {who} differs: {diff} links ours {got[1][:3]} want {want[1][:3]}")
                    raise StopIteration
    except StopIteration:
        shutil.copytree(W, f"/tmp/incsmoke/bad-{r}", symlinks=True, dirs_exist_ok=True, ignore=shutil.ignore_patterns("mnt"))
    except RuntimeError as e:
        bad += 1; print(f"run {r}: {e}")
        shutil.copytree(W, f"/tmp/incsmoke/bad-{r}", symlinks=True, dirs_exist_ok=True, ignore=shutil.ignore_patterns("mnt"))
print("done", runs, "chains,", levels_checked, "levels; bad", bad, "; reference restore hung", hung)
