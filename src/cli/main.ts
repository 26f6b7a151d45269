#!/usr/bin/env node
// The `iia` command line: a thin shell over the library. `run(argv, io)` does everything and returns the exit code,
// so tests call it in-process; the bin at the bottom wires it to the process (stdout, stderr, SIGINT).
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { formatError } from '../io/errors.js';
import { registerEdit } from './edit.js';
import { registerCalibrate } from './iia.js';
import { registerMlem } from './mlem.js';
import { registerEval } from './eval.js';
import { registerModels } from './models.js';
import { registerPlot } from './plot.js';
import { registerSample } from './sample.js';
import { registerSolvers } from './solvers.js';

export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Whether stderr is a terminal (the progress bar is drawn only then). */
  isTTY: boolean;
  /** The stream the progress bar draws on (default process.stderr). */
  stderrStream?: NodeJS.WritableStream;
  /** Aborts a running command (the bin connects it to SIGINT). */
  signal?: AbortSignal;
  /** Environment (default process.env); IIA_DEBUG=1 prints stacks. */
  env?: Record<string, string | undefined>;
}

/** Exit codes. */
export const EXIT = { ok: 0, error: 1, usage: 2, interrupted: 130 } as const;

/** Thrown by commands when the run was cancelled (SIGINT). */
export class InterruptedError extends Error {
  constructor() {
    super('interrupted');
    this.name = 'InterruptedError';
  }
}

/** The package version (package.json sits two levels up from both src/cli and dist/cli). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function buildProgram(io: CliIO): Command {
  const program = new Command();
  program
    .name('iia')
    .description('Few-step diffusion sampling: EDM Heun, DDIM, DPM-Solver++, UniPC, DEIS, PNDM, iPNDM ... on exact embedded models and ONNX models')
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout(s),
      writeErr: (s) => io.stderr(s),
      // Commander's "error: unknown option '--x'" -> "iia: unknown option '--x'"; one line (plus its suggestion).
      outputError: (s, write) => write(`iia: ${s.replace(/^error: /, '')}`),
    })
    .showSuggestionAfterError(true);
  registerSample(program, io);
  registerEdit(program, io);
  registerModels(program, io);
  registerSolvers(program, io);
  registerCalibrate(program, io);
  registerEval(program, io);
  registerMlem(program, io);
  registerPlot(program, io);
  return program;
}

/** Run the CLI on `argv` (the arguments after `iia`) and return the exit code. Never throws, never exits. */
export async function run(argv: readonly string[], io: CliIO): Promise<number> {
  const env = io.env ?? process.env;
  const debug = env.IIA_DEBUG === '1';
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; every other commander error is a usage error.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    // Once the user pressed Ctrl-C, whatever failed on the way out is part of the interruption.
    if (err instanceof InterruptedError || io.signal?.aborted) {
      io.stderr('iia: interrupted; no output written\n');
      return EXIT.interrupted;
    }
    io.stderr(formatError(err) + '\n');
    if (debug && err instanceof Error && err.stack) {
      io.stderr(err.stack + '\n');
      if (err.cause instanceof Error && err.cause.stack) io.stderr('caused by: ' + err.cause.stack + '\n');
    }
    return EXIT.error;
  }
}

/** The process wiring: real streams, SIGINT -> abort (a second Ctrl-C exits at once), exit code. */
async function main(): Promise<void> {
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(EXIT.interrupted);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const code = await run(process.argv.slice(2), {
    stdout: (s) => void process.stdout.write(s),
    stderr: (s) => void process.stderr.write(s),
    isTTY: Boolean(process.stderr.isTTY),
    stderrStream: process.stderr,
    signal: controller.signal,
  });
  process.off('SIGINT', onSigint);
  process.exitCode = code;
}

function isMainModule(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMainModule()) void main();
