// @rangekv/cli as a library: run the command line in-process (the `rangekv` bin is dist/rangekv.js).
export { main } from './main.js';
export { EXIT } from './command.js';
