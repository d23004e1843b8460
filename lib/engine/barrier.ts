/**
 * A meeting point for the hosts of one batch: `arrive(name, host)` resolves
 * once every host has arrived at `name` or finished without needing to, and
 * rejects as soon as a host fails before arriving.
 */
import { UserError } from "../errors.ts";

interface Point {
  readonly arrived: Set<string>;
  readonly waiters: { resolve: () => void; reject: (e: Error) => void }[];
}

export class Barrier {
  readonly #hosts: readonly string[];
  readonly #finished = new Set<string>();
  #failed?: string;
  readonly #points = new Map<string, Point>();

  constructor(hosts: readonly string[]) {
    this.#hosts = hosts;
  }

  arrive(name: string, host: string): Promise<void> {
    if (this.#failed) return Promise.reject(this.#error(name));
    let point = this.#points.get(name);
    if (!point) this.#points.set(name, point = { arrived: new Set(), waiters: [] });
    point.arrived.add(host);
    return new Promise((resolve, reject) => {
      point.waiters.push({ resolve, reject });
      this.#settle();
    });
  }

  /** A host is done: ok (it will not arrive anywhere else) or failed. */
  finish(host: string, ok: boolean): void {
    this.#finished.add(host);
    if (!ok && !this.#failed) this.#failed = host;
    this.#settle();
  }

  #error(name: string): Error {
    return new UserError(`Not going past "${name}": ${this.#failed} failed before getting there`);
  }

  #settle(): void {
    for (const [name, point] of this.#points) {
      if (this.#failed) {
        for (const w of point.waiters.splice(0)) w.reject(this.#error(name));
        continue;
      }
      const all = this.#hosts.every((h) => point.arrived.has(h) || this.#finished.has(h));
      if (all) { for (const w of point.waiters.splice(0)) w.resolve(); }
    }
  }
}
