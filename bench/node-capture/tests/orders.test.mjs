import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { OutOfStock, openShop, rounds } from '../shop/index.mjs';

const PRODUCTS = 20;
const CUSTOMERS = 50;
let shop;
const placed = [];

before(async () => {
  shop = await openShop('orders');
  for (let i = 1; i <= PRODUCTS; i++) await shop.addProduct(`SKU-${i}`, 1 + i / 4, 1_000_000);
  for (let i = 1; i <= CUSTOMERS; i++) await shop.addCustomer(`Buyer ${i}`, `buyer${i}@example.test`);
});
after(() => shop.close());

test('places orders of three lines', async () => {
  for (let i = 0; i < rounds(150); i++) {
    const items = [0, 7, 13].map((k) => [((i + k) % PRODUCTS) + 1, 1 + (i % 3)]);
    const id = await shop.placeOrder((i % CUSTOMERS) + 1, items);
    placed.push(id);
  }
  assert.equal(placed.length, rounds(150));
});

test('an order larger than the stock rolls back', async () => {
  for (let i = 0; i < rounds(50); i++) {
    await assert.rejects(async () => shop.placeOrder(1, [[(i % PRODUCTS) + 1, 10_000_000]]), OutOfStock);
  }
  assert.equal((await shop.ordersOf(1)).length, placed.filter((_, i) => i % CUSTOMERS === 0).length);
});

test('ships each order once', async () => {
  for (const id of placed) {
    assert.equal(await shop.shipOrder(id), true);
    const o = await shop.order(id);
    assert.equal(o.status, 'shipped');
    assert.equal(o.lines.length, 3);
  }
  assert.equal(await shop.shipOrder(placed[0]), false);
});
