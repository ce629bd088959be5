/**
 * The layers, checked by `npm test` (`npm run layers`): the folders are the architecture,
 * and an import that runs the wrong way fails the build.
 *
 *   cli → serving → lambda → batch, speed → shared
 *
 * shared/ is code every layer uses and imports none; batch/ and speed/ never see each other
 * (they meet only in lambda/, the hand-off); lambda/ knows nothing of HTTP; production code
 * never imports tests or benches. test/support/layers.test.ts shows each rule failing.
 */
const production = '^(shared|batch|speed|lambda|serving|cli|bin)/';

module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'modules that import each other in a circle', from: {}, to: { circular: true } },
    { name: 'shared-imports-no-layer', severity: 'error', comment: 'shared/ is used by every layer and uses none', from: { path: '^shared/' }, to: { path: '^(batch|speed|lambda|serving|cli)/' } },
    { name: 'batch-sees-only-shared', severity: 'error', comment: 'the batch layer does not know the speed layer, the hand-off or HTTP', from: { path: '^batch/' }, to: { path: '^(speed|lambda|serving|cli)/' } },
    { name: 'speed-sees-only-shared', severity: 'error', comment: 'the speed layer does not know the batch layer, the hand-off or HTTP', from: { path: '^speed/' }, to: { path: '^(batch|lambda|serving|cli)/' } },
    { name: 'lambda-knows-no-http', severity: 'error', comment: 'the process and the hand-off do not know the HTTP layer or the CLI', from: { path: '^lambda/' }, to: { path: '^(serving|cli)/' } },
    { name: 'serving-knows-no-cli', severity: 'error', comment: 'the HTTP layer does not know the CLI', from: { path: '^serving/' }, to: { path: '^cli/' } },
    { name: 'production-imports-no-tests', severity: 'error', comment: 'production code never imports tests or benches', from: { path: production }, to: { path: '^(test|bench)/' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // type-only imports count: a type that crosses a layer ties the layers as much as a value
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6'],
  },
};
