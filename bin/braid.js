#!/usr/bin/env node
// The braid binary. The sources are TypeScript run through tsx's loader, so a fresh clone
// needs only `npm install` — no build step.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
