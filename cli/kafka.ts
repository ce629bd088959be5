import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../infra/kafka/kafka.sh', import.meta.url));

/** `braid kafka install|start|stop|status`: the same script tests and CI use. */
export function kafkaCommand(action: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, action], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? 1));
  });
}
