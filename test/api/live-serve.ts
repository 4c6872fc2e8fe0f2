import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { makeTempDir } from '../support/temp';

/** A folder with a small files source `saves` and its zapas.yaml (plus `extra` lines at the end). */
export async function serveFolder(extra = ''): Promise<{ dir: string; config: string }> {
  const dir = await makeTempDir('zapas-serve-guard-');
  await mkdir(join(dir, 'data'), { recursive: true });
  for (let i = 0; i < 5; i++) await writeFile(join(dir, 'data', `f${i}`), `file ${i}`);
  await writeFile(join(dir, 'password'), 'serve guard password\n', { mode: 0o600 });
  const config = join(dir, 'zapas.yaml');
  await writeFile(
    config,
    `version: 1
repositories:
  main: { url: ./repo, residency: RU, passwordFile: ./password }
sources:
  saves: { type: files, paths: [./data], repository: main, dataClass: game-content }
${extra}`,
  );
  return { dir, config };
}

/** Resident memory of a process, in bytes (Linux). */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/**
 * POSTs `bytes` of zeros to `url` (chunked, or with a Content-Length), written as fast as the server
 * takes them, until it answers: the status and how much was written by then.
 */
export function postBytes(
  url: string,
  bytes: number,
  how: 'chunked' | 'content-length',
): Promise<{ status: number; sent: number }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> =
      how === 'chunked' ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(bytes) };
    const req = request(url, { method: 'POST', headers });
    const chunk = Buffer.alloc(64 * 1024);
    let sent = 0;
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      res.resume();
      resolve({ status: res.statusCode ?? 0, sent });
      req.destroy();
    });
    // The server closing the connection after its answer is expected; before it, it is a failure.
    req.on('error', (err) => {
      if (!answered) setTimeout(() => answered || reject(err), 1000);
    });
    const write = () => {
      while (!answered && sent < bytes) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', write);
      }
      if (!answered) req.end();
    };
    write();
  });
}

/** Runs `task` `total` times, `concurrency` at a time. */
export async function pool(
  total: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await task(next++);
    }),
  );
}

/** One request with exactly these headers (Host included, which fetch will not let a caller set). */
export function send(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
