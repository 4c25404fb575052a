// Errors raised on purpose for bad input or a bad environment. Each message names the thing that
// is wrong and what to do, so hosts print `message` alone (no stack trace) and exit with code 2.
// Anything that is not a UserError is a bug and keeps its stack.

export class UserError extends Error {
  override name = 'UserError';
}

/** A hyperparameter, flag, preset or step string is invalid. */
export class HparamsError extends UserError {
  override name = 'HparamsError';
}
