// Running a benchmarked command: wall time, peak RSS of the largest process in its tree
// (getrusage(RUSAGE_CHILDREN).ru_maxrss, KiB on Linux) and CPU time, through a small Python helper (GNU time
// is not needed). Shared by the file-tree and PostgreSQL benches.

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const MEASURE_PY = `
import json, os, resource, signal, subprocess, sys, time
out, timeout, stdout_path, stderr_path = sys.argv[1:5]
cmd = sys.argv[5:]
timeout = float(timeout)
timed_out = False
with open(stdout_path, "wb") as so, open(stderr_path, "wb") as se:
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=so, stderr=se, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        rc = p.wait(timeout=timeout if timeout > 0 else None)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(p.pid, signal.SIGKILL)
        rc = p.wait()
    t1 = time.perf_counter()
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(out, "w") as f:
    json.dump({"rc": rc, "seconds": t1 - t0, "maxrssKiB": ru.ru_maxrss, "user": ru.ru_utime,
               "sys": ru.ru_stime, "timedOut": timed_out}, f)
`;

export function readText(p) {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/**
 * A measurer writing logs to `logs` (numbered per run): measure(label, argv, env) runs argv after `sync` and
 * returns { ok, rc, timedOut, seconds, peakBytes, cpu, stdout, stderr, logBase }. With `dropCaches` (and root)
 * the page cache is emptied before each command too, so that every tool starts from the same memory state:
 * on this VM a full page cache makes each new page cost reclaim, and one restore's system time went from
 * 1.1 s to 9.4 s with the state the previous step left.
 */
export function makeMeasurer({ work, logs, root, timeoutSeconds, dropCaches = false }) {
  const helper = path.join(work, 'measure.py');
  writeFileSync(helper, MEASURE_PY);
  let counter = 0;
  return function measure(label, argv, env = {}) {
    spawnSync('sync');
    if (dropCaches) emptyPageCache();
    const n = String(++counter).padStart(2, '0');
    const base = path.join(logs, `${n}-${label.replace(/[^a-z0-9-]+/gi, '_')}`);
    const outJson = `${base}.measure.json`;
    const r = spawnSync(
      'python3',
      [helper, outJson, String(timeoutSeconds), `${base}.stdout`, `${base}.stderr`, ...argv],
      { cwd: work, env: { ...process.env, ...env }, stdio: 'inherit' },
    );
    let m;
    try {
      m = JSON.parse(readFileSync(outJson, 'utf8'));
    } catch {
      m = { rc: r.status ?? -1, seconds: Number.NaN, maxrssKiB: 0, user: 0, sys: 0, timedOut: false };
    }
    return {
      ok: m.rc === 0 && !m.timedOut,
      rc: m.rc,
      timedOut: m.timedOut,
      seconds: m.seconds,
      peakBytes: m.maxrssKiB * 1024,
      cpu: m.user + m.sys,
      stdout: readText(`${base}.stdout`),
      stderr: readText(`${base}.stderr`),
      logBase: path.relative(root, base),
    };
  };
}

/** Whether the page cache can be emptied here (root, /proc writable). */
export function canDropCaches() {
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

function emptyPageCache() {
  if (!canDropCaches()) throw new Error('cannot write /proc/sys/vm/drop_caches: run the benchmark as root');
}

/** The median of numbers. */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
