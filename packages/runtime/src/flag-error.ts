// The one error of flag and config parsing. Its message names the flag and the bad value
// (and where the value came from when not from the command line); a main prints it with
// its usage and exits 2.
export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}
