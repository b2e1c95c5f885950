import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openShop, rounds } from '../shop/index.mjs';

const PRODUCTS = 40;
let shop;

before(async () => {
  shop = await openShop('inventory');
  for (let i = 1; i <= PRODUCTS; i++) await shop.addProduct(`PART-${i}`, 2.5, 100);
  await shop.addCustomer('Warehouse', 'warehouse@example.test');
});
after(() => shop.close());

test('restocking adds to the stock', async () => {
  for (let i = 0; i < rounds(600); i++) {
    const id = (i % PRODUCTS) + 1;
    const before = (await shop.product(id)).stock;
    await shop.restock(id, 5);
    assert.equal((await shop.product(id)).stock, before + 5);
  }
});

test('orders take from the stock', async () => {
  for (let i = 0; i < rounds(120); i++) {
    const a = (i % PRODUCTS) + 1;
    const b = ((i + 1) % PRODUCTS) + 1;
    const stockA = (await shop.product(a)).stock;
    await shop.placeOrder(1, [[a, 2], [b, 1]]);
    assert.equal((await shop.product(a)).stock, stockA - 2);
  }
});
