import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openShop, rounds } from '../shop/index.mjs';

let shop;
before(async () => {
  shop = await openShop('customers');
});
after(() => shop.close());

test('registers customers and reads them back', async () => {
  for (let i = 0; i < rounds(500); i++) {
    const id = await shop.addCustomer(`Customer ${i}`, `customer${i}@example.test`);
    const c = await shop.customer(id);
    assert.equal(c.email, `customer${i}@example.test`);
  }
});

test('renames customers', async () => {
  for (let id = 1; id <= rounds(500); id++) {
    await shop.renameCustomer(id, `Renamed ${id}`);
    const c = await shop.customer(id);
    assert.equal(c.name, `Renamed ${id}`);
  }
});

test('a customer without orders has none', async () => {
  for (let id = 1; id <= rounds(500); id++) {
    assert.deepEqual(await shop.ordersOf(id), []);
  }
});
