// What `--params off` leaves of a value in text: one stand-in (MASKED_VALUE) whether
// an agent or the reader took the value out, and names kept where the text says
// they are names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MASKED_VALUE, detailWithoutValues, maskSqlLiterals, redactArgv, scrubValues, withoutQuotedValues } from '../../src/trace/redact';

const V = MASKED_VALUE;

test('the reader scrubs quoted values and key tuples to the stand-in the agents write', () => {
  assert.equal(scrubValues('invalid input syntax for type integer: "abc"'), `invalid input syntax for type integer: "${V}"`);
  assert.equal(scrubValues('Key (email)=(a@b.c) already exists.'), `Key (email)=(${V}) already exists.`);
  assert.equal(scrubValues("AssertionError: assert 'secret' == 'other'"), `AssertionError: assert '${V}' == '${V}'`);
  // An agent's output read again is unchanged: scrubbing twice is scrubbing once.
  const once = scrubValues('duplicate key value violates unique constraint "users_email_key"');
  assert.equal(scrubValues(once), once);
});

test('an agent keeps the names a database message quotes and drops its values', () => {
  assert.equal(
    withoutQuotedValues('duplicate key value violates unique constraint "users_email_key"'),
    'duplicate key value violates unique constraint "users_email_key"',
  );
  assert.equal(withoutQuotedValues('invalid input syntax for type integer: "abc"'), `invalid input syntax for type integer: "${V}"`);
  assert.equal(detailWithoutValues('Key (email)=(a@b.c) already exists.'), `Key (email)=(${V}) already exists.`);
  assert.equal(detailWithoutValues('Failing row contains (1, secret).'), undefined);
});

test('SQL keeps its names, comments and placeholders; its literals become the stand-in', () => {
  assert.equal(
    maskSqlLiterals("select id from users where email = 'a@b.c' and age > 42 and name = $1 /* 7 */"),
    `select id from users where email = ${V} and age > ${V} and name = $1 /* 7 */`,
  );
  assert.equal(maskSqlLiterals('insert into t (param_1) values (:param_1)'), 'insert into t (param_1) values (:param_1)');
});

test('a password on a command line is redacted, in the argument or after a bare flag', () => {
  assert.deepEqual(redactArgv(['pytest', '--dsn=postgresql://u:PW@localhost/db', '--password', 'PW']), [
    'pytest',
    '--dsn=postgresql://u:***@localhost/db',
    '--password',
    '***',
  ]);
});
