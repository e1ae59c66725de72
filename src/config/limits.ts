// Bounds on numbers the config and the control API share, in a module of their own so that a client
// (`drover status`, bundled small) can import one without the schema.

/**
 * Most processes one section may make (numprocs) and one `drover scale` may ask for: a typing slip such
 * as numprocs = 100000000 would otherwise have drover try to start that many.
 */
export const MAX_NUMPROCS = 10_000;
