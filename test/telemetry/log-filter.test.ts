import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LogFilterError, parseLogFilter } from '../../src/index.js';

describe('RUST_LOG-style log filter', () => {
  test('an empty filter means info for everything', () => {
    const f = parseLogFilter('');
    assert.equal(f.levelFor('kubeloop::client'), 'info');
    assert.equal(f.levelFor('app'), 'info');
  });

  test('kubeloop=warn,app=debug sets each target and leaves unnamed targets off', () => {
    const f = parseLogFilter('kubeloop=warn,app=debug');
    assert.equal(f.levelFor('kubeloop'), 'warn');
    assert.equal(f.levelFor('kubeloop::client'), 'warn');
    assert.equal(f.levelFor('app'), 'debug');
    assert.equal(f.levelFor('app::reconcile'), 'debug');
    assert.equal(f.levelFor('other'), 'off');
    assert.equal(f.levelFor('kubeloopish'), 'off', 'a target matches at :: boundaries only');
  });

  test('the longest matching target wins, whatever the order of directives', () => {
    const f = parseLogFilter('kubeloop::client=debug,info,kubeloop=warn');
    assert.equal(f.levelFor('kubeloop::client'), 'debug');
    assert.equal(f.levelFor('kubeloop::client::sub'), 'debug');
    assert.equal(f.levelFor('kubeloop::watcher'), 'warn');
    assert.equal(f.levelFor('app'), 'info', 'a bare level is the default');
  });

  test('a bare level applies to every target and a bare target enables all its levels', () => {
    assert.equal(parseLogFilter('trace').levelFor('kubeloop::watcher'), 'trace');
    const f = parseLogFilter('warn,my_controller');
    assert.equal(f.levelFor('my_controller'), 'trace');
    assert.equal(f.levelFor('kubeloop'), 'warn');
  });

  test('levels are case-insensitive and off silences a target', () => {
    const f = parseLogFilter('INFO,kubeloop::watcher=OFF');
    assert.equal(f.levelFor('kubeloop::watcher'), 'off');
    assert.equal(f.levelFor('kubeloop::client'), 'info');
  });

  test('a bad directive is an error naming it and where it came from', () => {
    assert.throws(() => parseLogFilter('kubeloop=loud', 'KUBELOOP_LOG'), (e: Error) => {
      assert.ok(e instanceof LogFilterError);
      assert.equal(e.message, 'KUBELOOP_LOG: directive "kubeloop=loud" has an unknown level "loud" (expected trace, debug, info, warn, error or off).');
      return true;
    });
    assert.throws(() => parseLogFilter('info,bad target=debug'), /directive "bad target=debug" has an invalid target/);
    assert.throws(() => parseLogFilter('kubeloop[span]=debug'), /span filters/);
    assert.throws(() => parseLogFilter('=debug'), /invalid target ""/);
  });
});
