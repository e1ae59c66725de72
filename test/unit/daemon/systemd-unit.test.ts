// The systemd unit `drover unit` prints, and the stop budget behind its TimeoutStopSec.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProcessSpec } from '../../../src/config/types.js';
import { checkUnitName, renderSystemdUnit, stopBudgetSecs, STOP_MARGIN_SECS, type UnitOptions } from '../../../src/daemon/systemd-unit.js';

const base: UnitOptions = {
  name: 'drover',
  user: false,
  nodePath: '/usr/bin/node',
  droverPath: '/opt/drover/bin/drover.js',
  configPath: '/etc/drover/supervisord.conf',
  workingDirectory: '/etc/drover',
  minfds: 1024,
  stopTimeoutSecs: 20,
  watchdogSecs: null,
  version: '1.2.3',
};

/** The unit's settings, without comments and blank lines. */
const settings = (text: string): string[] => text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));

test('a system unit: Type=notify, drover up/reload with absolute paths, an orderly stop', () => {
  assert.deepEqual(settings(renderSystemdUnit(base)), [
    '[Unit]',
    'Description=drover process supervisor (/etc/drover/supervisord.conf)',
    'After=network-online.target',
    'Wants=network-online.target',
    '[Service]',
    'Type=notify',
    'NotifyAccess=all',
    'ExecStart=/usr/bin/node /opt/drover/bin/drover.js up -c /etc/drover/supervisord.conf',
    'ExecReload=/usr/bin/node /opt/drover/bin/drover.js reload -c /etc/drover/supervisord.conf',
    'KillMode=mixed',
    'TimeoutStopSec=20',
    'Restart=on-failure',
    'RestartSec=1s',
    'LimitNOFILE=1024:524288',
    'WorkingDirectory=/etc/drover',
    'SyslogIdentifier=drover',
    '[Install]',
    'WantedBy=multi-user.target',
  ]);
});

test('the header says how to install it, under its name', () => {
  const text = renderSystemdUnit({ ...base, name: 'web' });
  assert.match(text, /^# web\.service: drover for \/etc\/drover\/supervisord\.conf\n/);
  assert.match(text, /drover unit -c \/etc\/drover\/supervisord\.conf --name web > \/etc\/systemd\/system\/web\.service/);
  assert.match(text, /systemctl daemon-reload && systemctl enable --now web\.service/);
  assert.match(text, /^SyslogIdentifier=web$/m);
});

test('a user unit: WantedBy=default.target, no network targets, systemctl --user', () => {
  const text = renderSystemdUnit({ ...base, user: true });
  const s = settings(text);
  assert.ok(s.includes('WantedBy=default.target'));
  assert.ok(!s.some((l) => l.includes('network')));
  assert.match(text, /> ~\/\.config\/systemd\/user\/drover\.service/);
  assert.match(text, /systemctl --user daemon-reload && systemctl --user enable --now drover\.service/);
});

test('WatchdogSec only when asked for', () => {
  assert.ok(!renderSystemdUnit(base).includes('WatchdogSec'));
  assert.ok(settings(renderSystemdUnit({ ...base, watchdogSecs: 30 })).includes('WatchdogSec=30'));
});

test('LimitNOFILE: minfds as the soft limit, systemd\'s default hard limit kept unless minfds is above it', () => {
  assert.ok(settings(renderSystemdUnit({ ...base, minfds: 100_000 })).includes('LimitNOFILE=100000:524288'));
  assert.ok(settings(renderSystemdUnit({ ...base, minfds: 1_048_576 })).includes('LimitNOFILE=1048576'));
});

test('paths with spaces, quotes, % and $ are quoted and escaped for systemd', () => {
  const text = renderSystemdUnit({
    ...base,
    nodePath: '/opt/my node%1$x/node',
    droverPath: '/opt/dr"over/bin/drover.js',
    configPath: '/srv/50% off/$HOME/super visord.conf',
    workingDirectory: '/srv/50% off',
  });
  const s = settings(text);
  // the executable: % doubled, $ left alone (systemd expands no variable there)
  assert.ok(
    s.includes('ExecStart="/opt/my node%%1$x/node" "/opt/dr\\"over/bin/drover.js" up -c "/srv/50%% off/$$HOME/super visord.conf"'),
    s.find((l) => l.startsWith('ExecStart=')),
  );
  assert.ok(s.includes('WorkingDirectory=/srv/50%% off'));
  assert.ok(s.includes('Description=drover process supervisor (/srv/50%% off/$HOME/super visord.conf)'));
});

test('unit names: letters, digits and :_.\\- only', () => {
  assert.equal(checkUnitName('web-app_2.prod'), null);
  for (const bad of ['', 'a b', 'web/x', 'web@', 'é']) assert.match(checkUnitName(bad) ?? '', /--name must be a unit name/, bad);
});

function proc(priority: number, stopWaitSecs: number, group = `p${priority}-${stopWaitSecs}`): Pick<ProcessSpec, 'group' | 'priority' | 'stopWaitSecs'> {
  return { group, priority, stopWaitSecs };
}

test('the stop budget adds up the largest stopwaitsecs of each priority level, plus a margin', () => {
  // levels stop one after another: 999 → max(5) first, then 10 → max(20, 30)
  assert.equal(stopBudgetSecs({ processes: [proc(10, 20), proc(999, 5), proc(10, 30)] }), 35 + STOP_MARGIN_SECS);
  assert.equal(stopBudgetSecs({ processes: [proc(1, 10), proc(1, 10), proc(1, 10)] }), 10 + STOP_MARGIN_SECS);
  assert.equal(stopBudgetSecs({ processes: [proc(1, 0.5), proc(2, 0.2)] }), 1 + STOP_MARGIN_SECS);
  assert.equal(stopBudgetSecs({ processes: [] }), STOP_MARGIN_SECS);
});

test("the stop budget's levels are (group priority, priority): an explicit group's members with one priority are one level", () => {
  // [group:db] priority 1 holds two programs of priority 999; a program of priority 999 outside it is another level
  const groups = [{ name: 'db', priority: 1 }];
  const processes = [proc(999, 10, 'db'), proc(999, 20, 'db'), proc(999, 5, 'app')];
  assert.equal(stopBudgetSecs({ processes, groups }), 20 + 5 + STOP_MARGIN_SECS);
  assert.equal(stopBudgetSecs({ processes }), 20 + STOP_MARGIN_SECS, 'without groups, one level of priority 999');
});
