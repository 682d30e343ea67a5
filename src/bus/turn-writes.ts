// Writes batched per turn of the event loop, for both ends of the bus socket: one read often
// brings many requests (or replies), and a syscall for each answer was the daemon's largest
// cost at 50k round trips/s.

/** Holds a socket's writes back until this turn's microtasks are done, then lets them go in one writev. */
export class TurnWrites {
  private corked = false;

  constructor(private readonly socket: { cork(): void; uncork(): void }) {}

  /** Call before each write: the first of a turn corks the socket, and a tick later uncorks it. */
  hold(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(() => {
      this.corked = false;
      this.socket.uncork();
    });
  }
}
