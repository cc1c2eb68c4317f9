/**
 * A benchmark's far side: a module run in a child process of its own (IM, the old system, the app
 * users: remote services in real life), whose CPU then does not queue on the tool's event loop.
 * `serveFarSide` answers commands in the child; `forkFarSide` calls them from the benchmark.
 */
import { fork } from 'node:child_process';

interface Request<C> {
  id: number;
  command: C;
}
interface Answer {
  id: number;
  result?: unknown;
  error?: string;
}

export interface FarSide<C> {
  /** The child's process id, for its CPU and memory (/proc). */
  pid: number;
  call<T>(command: C): Promise<T>;
  exit(): void;
}

export function forkFarSide<C>(modulePath: string): FarSide<C> {
  const child = fork(modulePath, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let next = 0;
  child.on('message', (m: Answer) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.error !== undefined) w?.reject(new Error(`far side: ${m.error}`));
    else w?.resolve(m.result);
  });
  return {
    pid: child.pid!,
    call: <T>(command: C) =>
      new Promise<T>((resolve, reject) => {
        const id = next++;
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, command } satisfies Request<C>);
      }),
    exit: () => void child.kill(),
  };
}

/** In the child: answers each command with `handle`'s result or its error message. */
export function serveFarSide<C>(handle: (command: C) => Promise<unknown>): void {
  process.on('message', (m: Request<C>) => {
    handle(m.command).then(
      (result) => process.send?.({ id: m.id, result } satisfies Answer),
      (err: unknown) => process.send?.({ id: m.id, error: err instanceof Error ? err.message : String(err) } satisfies Answer),
    );
  });
}
