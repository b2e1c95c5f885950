import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openShop, rounds } from '../shop/index.mjs';

const PRODUCTS = 10;
const CUSTOMERS = 40;
let shop;
let orders = 0;

before(async () => {
  shop = await openShop('reports');
  for (let i = 1; i <= PRODUCTS; i++) await shop.addProduct(`ITEM-${i}`, i, 1_000_000);
  for (let i = 1; i <= CUSTOMERS; i++) await shop.addCustomer(`Client ${i}`, `client${i}@example.test`);
  for (let i = 0; i < rounds(120); i++) {
    await shop.placeOrder((i % CUSTOMERS) + 1, [[(i % PRODUCTS) + 1, 1], [((i + 3) % PRODUCTS) + 1, 2]]);
    orders++;
  }
});
after(() => shop.close());

test('every order appears under its customer', async () => {
  for (let r = 0; r < rounds(10); r++) {
    let seen = 0;
    for (let c = 1; c <= CUSTOMERS; c++) seen += (await shop.ordersOf(c)).length;
    assert.equal(seen, orders);
  }
});

test('order totals equal their lines', async () => {
  for (let r = 0; r < rounds(3); r++) {
    for (let id = 1; id <= orders; id++) {
      const o = await shop.order(id);
      const sum = o.lines.reduce((s, l) => s + l.quantity * Number(l.price), 0);
      assert.equal(o.total, sum);
    }
  }
});

test('revenue by product adds up', async () => {
  for (let r = 0; r < rounds(40); r++) {
    const rows = await shop.revenueBySku();
    assert.equal(rows.length, PRODUCTS);
  }
});
