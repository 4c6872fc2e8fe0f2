import { readdir, readFile, readlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/**
 * Which files under `dir` the process tree of `pid` has open (Linux /proc): a spooled output file that no
 * writer holds open is complete. Undefined when /proc cannot tell (another system): the caller then waits
 * for the writer to exit.
 */
export async function openFilesUnder(pid: number, dir: string): Promise<Set<string> | undefined> {
  const root = resolve(dir);
  const open = new Set<string>();
  const pids = await processTree(pid);
  if (pids === undefined) return undefined;
  for (const p of pids) {
    let fds: string[];
    try {
      fds = await readdir(`/proc/${p}/fd`);
    } catch {
      continue; // exited meanwhile
    }
    for (const fd of fds) {
      const target = await readlink(`/proc/${p}/fd/${fd}`).catch(() => undefined);
      if (target?.startsWith(`${root}/`)) open.add(target);
    }
  }
  return open;
}

/** `pid` and its descendants (pg_dump -j forks a worker per job). */
async function processTree(pid: number): Promise<number[] | undefined> {
  const out: number[] = [];
  const visit = async (p: number): Promise<boolean> => {
    out.push(p);
    let tasks: string[];
    try {
      tasks = await readdir(`/proc/${p}/task`);
    } catch {
      return out.length > 1; // the root may have exited; /proc itself is missing only on other systems
    }
    for (const t of tasks) {
      const children = await readFile(`/proc/${p}/task/${t}/children`, 'utf8').catch(() => '');
      for (const c of children.trim().split(/\s+/).filter(Boolean)) await visit(Number(c));
    }
    return true;
  };
  const ok = await visit(pid);
  if (!ok && !(await readdir('/proc').catch(() => undefined))) return undefined;
  return out;
}

/** The regular files below `dir`, as paths relative to it. */
export async function filesBelow(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, prefix), { withFileTypes: true }).catch(() => [])) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesBelow(dir, rel)));
    else if (e.isFile()) out.push(rel);
  }
  return out;
}
