/** The program and version that snapshots record as their writer, and `zapas version` prints. */
export const PROGRAM = 'zapas 0.1.0';
