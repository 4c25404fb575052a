// Dawn prints a few "Warning: maxDynamic…BuffersPerPipelineLayout artificially reduced …" lines
// from native code (fprintf to stderr, no switch to turn them off) every time it gathers an
// adapter's limits: 4 lines per command, 10 for `earlyphase adapters`. They say nothing a user
// can act on, so runner/earlyphase.mjs runs the CLI with stderr through this filter unless
// --verbose is given. Everything else passes through unchanged and at once, including a
// progress bar's partial lines ("\r…" without a newline).

/** One line Dawn writes when it clamps a limit it cannot honour (dawn/native/Limits.cpp). */
export const DAWN_LIMIT_WARNING = /^Warning: maxDynamic(?:Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\r?$/;
const PREFIX = 'Warning: maxDynamic';

/** A stateful filter: feed it chunks with push(), call end() when the stream closes. */
export function dawnWarningFilter(write) {
  let held = ''; // a partial line that may still turn out to be a Dawn warning
  return {
    push(chunk) {
      const text = held + chunk;
      held = '';
      const lines = text.split('\n');
      const last = lines.pop();
      let out = '';
      for (const l of lines) if (!DAWN_LIMIT_WARNING.test(l)) out += `${l}\n`;
      // Hold the unfinished tail only while it can still become a warning line.
      if (last.startsWith(PREFIX) || (last.length < PREFIX.length && PREFIX.startsWith(last) && last !== '')) held = last;
      else out += last;
      if (out) write(out);
    },
    end() { if (held) write(held); held = ''; },
  };
}
