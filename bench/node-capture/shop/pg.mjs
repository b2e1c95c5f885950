// The shop on node-postgres: a Pool, statements with parameters, orders placed
// in explicit transactions on a checked-out client (BEGIN ... COMMIT, ROLLBACK
// when stock runs out). Each test file gets its own schema, so files running at
// the same time never see each other's rows.
import pg from 'pg';

const SCHEMA_SQL = `
  CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE, credit numeric(10,2) NOT NULL DEFAULT 0);
  CREATE TABLE products (id serial PRIMARY KEY, sku text NOT NULL UNIQUE, price numeric(10,2) NOT NULL, stock integer NOT NULL);
  CREATE TABLE orders (id serial PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers(id), status text NOT NULL DEFAULT 'new', total numeric(10,2) NOT NULL DEFAULT 0);
  CREATE TABLE order_lines (id serial PRIMARY KEY, order_id integer NOT NULL REFERENCES orders(id), product_id integer NOT NULL REFERENCES products(id), quantity integer NOT NULL, price numeric(10,2) NOT NULL);
  CREATE INDEX order_lines_order ON order_lines(order_id);
  CREATE INDEX orders_customer ON orders(customer_id);
`;

export class OutOfStock extends Error {}

export async function openShop(name) {
  const url = process.env.TXLENS_BENCH_PG_URL;
  if (!url) throw new Error('TXLENS_BENCH_PG_URL is not set');
  const schema = `shop_${name}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}; SET search_path TO ${schema}; ${SCHEMA_SQL}`);
  await admin.end();
  const pool = new pg.Pool({ connectionString: url, options: `-c search_path=${schema}`, max: 4 });

  async function inTransaction(work) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (e) {
      await client.query('ROLLBACK');
      throw e;
    } finally {
      client.release();
    }
  }

  return {
    async addCustomer(customerName, email) {
      const r = await pool.query('INSERT INTO customers (name, email) VALUES ($1, $2) RETURNING id', [customerName, email]);
      return r.rows[0].id;
    },
    async addProduct(sku, price, stock) {
      const r = await pool.query('INSERT INTO products (sku, price, stock) VALUES ($1, $2, $3) RETURNING id', [sku, price, stock]);
      return r.rows[0].id;
    },
    async customer(id) {
      const r = await pool.query('SELECT id, name, email, credit FROM customers WHERE id = $1', [id]);
      return r.rows[0];
    },
    async renameCustomer(id, newName) {
      await pool.query('UPDATE customers SET name = $2 WHERE id = $1', [id, newName]);
    },
    async product(id) {
      const r = await pool.query('SELECT id, sku, price, stock FROM products WHERE id = $1', [id]);
      return { ...r.rows[0], price: Number(r.rows[0].price) };
    },
    async restock(id, quantity) {
      await pool.query('UPDATE products SET stock = stock + $2 WHERE id = $1', [id, quantity]);
    },
    /** items: [[productId, quantity], ...]; throws OutOfStock (the transaction rolled back). */
    placeOrder(customerId, items) {
      return inTransaction(async (client) => {
        const order = await client.query('INSERT INTO orders (customer_id) VALUES ($1) RETURNING id', [customerId]);
        const orderId = order.rows[0].id;
        let total = 0;
        for (const [productId, quantity] of items) {
          const p = await client.query('SELECT price, stock FROM products WHERE id = $1 FOR UPDATE', [productId]);
          if (p.rows[0].stock < quantity) throw new OutOfStock(`product ${productId}`);
          await client.query('UPDATE products SET stock = stock - $2 WHERE id = $1', [productId, quantity]);
          await client.query('INSERT INTO order_lines (order_id, product_id, quantity, price) VALUES ($1, $2, $3, $4)', [orderId, productId, quantity, p.rows[0].price]);
          total += Number(p.rows[0].price) * quantity;
        }
        await client.query('UPDATE orders SET total = $2 WHERE id = $1', [orderId, total]);
        return orderId;
      });
    },
    shipOrder(orderId) {
      return inTransaction(async (client) => {
        const r = await client.query("UPDATE orders SET status = 'shipped' WHERE id = $1 AND status = 'new'", [orderId]);
        return r.rowCount === 1;
      });
    },
    async order(orderId) {
      const r = await pool.query('SELECT id, customer_id, status, total FROM orders WHERE id = $1', [orderId]);
      const lines = await pool.query('SELECT product_id, quantity, price FROM order_lines WHERE order_id = $1 ORDER BY id', [orderId]);
      return { ...r.rows[0], total: Number(r.rows[0].total), lines: lines.rows };
    },
    async ordersOf(customerId) {
      const r = await pool.query('SELECT id, status, total FROM orders WHERE customer_id = $1 ORDER BY id', [customerId]);
      return r.rows.map((o) => ({ ...o, total: Number(o.total) }));
    },
    async revenueBySku() {
      const r = await pool.query(
        'SELECT p.sku, sum(l.quantity * l.price) AS revenue FROM order_lines l JOIN products p ON p.id = l.product_id GROUP BY p.sku ORDER BY p.sku',
      );
      return r.rows.map((x) => ({ sku: x.sku, revenue: Number(x.revenue) }));
    },
    close() {
      return pool.end();
    },
  };
}
