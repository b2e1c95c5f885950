// The shop on better-sqlite3: one file per test file, prepared statements,
// orders placed in db.transaction() (rolled back when stock runs out). WAL with
// synchronous=NORMAL, as test set-ups usually have it: a commit does not wait on fsync.
import { join } from 'node:path';
import Database from 'better-sqlite3';

export class OutOfStock extends Error {}

export function openShop(name) {
  const dir = process.env.TXLENS_BENCH_SQLITE_DIR;
  if (!dir) throw new Error('TXLENS_BENCH_SQLITE_DIR is not set');
  const db = new Database(join(dir, `shop-${name}.db`));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`
    DROP TABLE IF EXISTS order_lines; DROP TABLE IF EXISTS orders; DROP TABLE IF EXISTS products; DROP TABLE IF EXISTS customers;
    CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE, credit real NOT NULL DEFAULT 0);
    CREATE TABLE products (id integer PRIMARY KEY, sku text NOT NULL UNIQUE, price real NOT NULL, stock integer NOT NULL);
    CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers(id), status text NOT NULL DEFAULT 'new', total real NOT NULL DEFAULT 0);
    CREATE TABLE order_lines (id integer PRIMARY KEY, order_id integer NOT NULL REFERENCES orders(id), product_id integer NOT NULL REFERENCES products(id), quantity integer NOT NULL, price real NOT NULL);
    CREATE INDEX order_lines_order ON order_lines(order_id);
    CREATE INDEX orders_customer ON orders(customer_id);
  `);
  const insertCustomer = db.prepare('INSERT INTO customers (name, email) VALUES (?, ?)');
  const insertProduct = db.prepare('INSERT INTO products (sku, price, stock) VALUES (?, ?, ?)');
  const selectCustomer = db.prepare('SELECT id, name, email, credit FROM customers WHERE id = ?');
  const updateCustomerName = db.prepare('UPDATE customers SET name = ? WHERE id = ?');
  const selectProduct = db.prepare('SELECT id, sku, price, stock FROM products WHERE id = ?');
  const addStock = db.prepare('UPDATE products SET stock = stock + ? WHERE id = ?');
  const insertOrder = db.prepare('INSERT INTO orders (customer_id) VALUES (?)');
  const selectPriceStock = db.prepare('SELECT price, stock FROM products WHERE id = ?');
  const takeStock = db.prepare('UPDATE products SET stock = stock - ? WHERE id = ?');
  const insertLine = db.prepare('INSERT INTO order_lines (order_id, product_id, quantity, price) VALUES (?, ?, ?, ?)');
  const setTotal = db.prepare('UPDATE orders SET total = ? WHERE id = ?');
  const ship = db.prepare("UPDATE orders SET status = 'shipped' WHERE id = ? AND status = 'new'");
  const selectOrder = db.prepare('SELECT id, customer_id, status, total FROM orders WHERE id = ?');
  const selectLines = db.prepare('SELECT product_id, quantity, price FROM order_lines WHERE order_id = ? ORDER BY id');
  const selectOrdersOf = db.prepare('SELECT id, status, total FROM orders WHERE customer_id = ? ORDER BY id');
  const revenue = db.prepare(
    'SELECT p.sku, sum(l.quantity * l.price) AS revenue FROM order_lines l JOIN products p ON p.id = l.product_id GROUP BY p.sku ORDER BY p.sku',
  );

  const placeOrder = db.transaction((customerId, items) => {
    const orderId = Number(insertOrder.run(customerId).lastInsertRowid);
    let total = 0;
    for (const [productId, quantity] of items) {
      const p = selectPriceStock.get(productId);
      if (p.stock < quantity) throw new OutOfStock(`product ${productId}`);
      takeStock.run(quantity, productId);
      insertLine.run(orderId, productId, quantity, p.price);
      total += p.price * quantity;
    }
    setTotal.run(total, orderId);
    return orderId;
  });
  const shipOrder = db.transaction((orderId) => ship.run(orderId).changes === 1);

  return {
    addCustomer: (customerName, email) => Number(insertCustomer.run(customerName, email).lastInsertRowid),
    addProduct: (sku, price, stock) => Number(insertProduct.run(sku, price, stock).lastInsertRowid),
    customer: (id) => selectCustomer.get(id),
    renameCustomer: (id, newName) => void updateCustomerName.run(newName, id),
    product: (id) => selectProduct.get(id),
    restock: (id, quantity) => void addStock.run(quantity, id),
    placeOrder: (customerId, items) => placeOrder(customerId, items),
    shipOrder: (orderId) => shipOrder(orderId),
    order: (orderId) => ({ ...selectOrder.get(orderId), lines: selectLines.all(orderId) }),
    ordersOf: (customerId) => selectOrdersOf.all(customerId),
    revenueBySku: () => revenue.all(),
    close: () => db.close(),
  };
}
