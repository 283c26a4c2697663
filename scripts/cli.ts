// The part every operator command line shares (scripts/admin.ts, scripts/marketdata.ts): strict
// parsing of `tool <command> [--flags]`, --help, and the usage answers with their exit code.

import { parseArgs, type ParseArgsConfig } from 'node:util';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

type Options = NonNullable<ParseArgsConfig['options']> & { help: { type: 'boolean' } };
export type CliValues<O extends Options> = ReturnType<typeof parseArgs<{ options: O; allowPositionals: true }>>['values'];

/**
 * Parses `argv` as exactly one command of `commands` and its flags. Returns the command, or the exit
 * code to end with after the answer already written (usage errors: EXIT_USAGE; --help: EXIT_OK).
 */
export function parseCommandLine<O extends Options, C>(
  tool: string, argv: readonly string[], options: O, usage: string, commands: Readonly<Record<string, C>>, io: CliOutput,
): { name: string; command: C; values: CliValues<O> } | { exit: number } {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    io.err(`${tool}: ${(e as Error).message}\n${usage}`);
    return { exit: EXIT_USAGE };
  }
  const { values, positionals } = parsed as { values: Record<string, unknown>; positionals: string[] };
  if (values['help'] === true) {
    io.out(usage);
    return { exit: EXIT_OK };
  }
  const name = positionals[0];
  const command = name === undefined || !Object.hasOwn(commands, name) ? undefined : commands[name];
  if (name === undefined || command === undefined || positionals.length > 1) {
    io.err(name === undefined ? `${tool}: no command\n${usage}` : `${tool}: unknown command or extra argument: ${positionals.join(' ')}\n${usage}`);
    return { exit: EXIT_USAGE };
  }
  return { name, command, values: values as CliValues<O> };
}
