"""Application code the tests exercise: every function works through an ORM Session."""

from sqlalchemy import func, select

from .models import CANCELLED, DRAFT, PAID, PLACED, SHIPPED, Customer, Order, OrderLine, Product


class OutOfStock(Exception):
    pass


def register_customer(session, email, name, tier="standard"):
    customer = Customer(email=email, name=name, tier=tier)
    session.add(customer)
    session.commit()
    return customer


def product_by_sku(session, sku):
    return session.execute(select(Product).where(Product.sku == sku)).scalar_one()


def open_order(session, customer, note=None):
    order = Order(customer=customer, status=DRAFT, note=note)
    session.add(order)
    session.flush()
    return order


def add_line(session, order, sku, quantity):
    product = product_by_sku(session, sku)
    if product.stock < quantity:
        raise OutOfStock(sku)
    product.stock -= quantity
    line = OrderLine(order=order, product=product, quantity=quantity, unit_price_cents=product.price_cents)
    session.add(line)
    session.flush()
    return line


def place(session, order):
    order.total_cents = sum(line.quantity * line.unit_price_cents for line in order.lines)
    order.status = PLACED
    session.commit()
    return order


def pay(session, order_id):
    order = session.get(Order, order_id)
    if order.status != PLACED:
        raise ValueError("order %s is %s" % (order_id, order.status))
    order.status = PAID
    session.flush()
    return order


def ship(session, order_id):
    order = session.get(Order, order_id)
    order.status = SHIPPED
    session.flush()
    return order


def cancel(session, order):
    for line in order.lines:
        line.product.stock += line.quantity
        session.flush()
    order.status = CANCELLED
    session.commit()


def restock(session, skus, quantity):
    for sku in skus:
        product = product_by_sku(session, sku)
        product.stock += quantity
        session.flush()
    session.commit()


def orders_of(session, customer_id, status=None):
    query = select(Order).where(Order.customer_id == customer_id)
    if status is not None:
        query = query.where(Order.status == status)
    return session.execute(query.order_by(Order.id)).scalars().all()


def revenue_by_customer(session):
    query = (
        select(Customer.email, func.count(Order.id), func.coalesce(func.sum(Order.total_cents), 0))
        .join(Order, Order.customer_id == Customer.id)
        .where(Order.status.in_((PLACED, PAID, SHIPPED)))
        .group_by(Customer.email)
        .order_by(Customer.email)
    )
    return session.execute(query).all()


def units_sold(session, sku):
    query = (
        select(func.coalesce(func.sum(OrderLine.quantity), 0))
        .join(Product, OrderLine.product_id == Product.id)
        .join(Order, OrderLine.order_id == Order.id)
        .where(Product.sku == sku, Order.status != CANCELLED)
    )
    return session.execute(query).scalar_one()
