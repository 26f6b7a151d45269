// A description of the machine a benchmark ran on, recorded next to every figure.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { createRequire } from 'node:module';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  onnxruntime: string;
  numpy: string | null;
  openblasEnv: string;
  date: string;
}

export function describeMachine(): MachineInfo {
  const require = createRequire(import.meta.url);
  const py = spawnSync('python3', ['-c', 'import numpy; print(numpy.__version__)'], { encoding: 'utf8' });
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    onnxruntime: (require('onnxruntime-node/package.json') as { version: string }).version,
    numpy: py.status === 0 ? py.stdout.trim() : null,
    openblasEnv: ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'].map((k) => `${k}=${process.env[k] ?? '(unset)'}`).join(' '),
    date: new Date().toISOString(),
  };
}

export function machineMarkdown(m: MachineInfo): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}, onnxruntime-node ${m.onnxruntime}` +
    `${m.numpy ? `, numpy ${m.numpy}` : ''}; ${m.openblasEnv}; run ${m.date}`;
}
