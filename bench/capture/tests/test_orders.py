import pytest
from sqlalchemy import select

from shop import services
from shop.models import CANCELLED, PAID, PLACED, SHIPPED, Product

ROUNDS = range(56)


@pytest.mark.parametrize("round_", ROUNDS)
def test_checkout_places_orders_and_moves_stock(session, catalogue, customer, round_):
    placed = []
    for n in range(4):
        order = services.open_order(session, customer, note="round %d order %d" % (round_, n))
        for sku in catalogue[n : n + 3]:
            services.add_line(session, order, sku, quantity=1 + (round_ + n) % 3)
        services.place(session, order)
        placed.append(order.id)

    orders = services.orders_of(session, customer.id, status=PLACED)
    assert [o.id for o in orders] == placed
    for order in orders:
        assert order.total_cents == sum(line.quantity * line.product.price_cents for line in order.lines)
    assert services.product_by_sku(session, catalogue[0]).stock < 100


@pytest.mark.parametrize("round_", ROUNDS)
def test_payment_and_shipping(session, catalogue, customer, round_):
    ids = []
    for n in range(3):
        order = services.open_order(session, customer)
        services.add_line(session, order, catalogue[(round_ + n) % len(catalogue)], quantity=2)
        services.add_line(session, order, catalogue[(round_ + n + 5) % len(catalogue)], quantity=1)
        services.place(session, order)
        ids.append(order.id)

    for order_id in ids:
        services.pay(session, order_id)
    session.commit()
    services.ship(session, ids[0])
    session.commit()

    assert [o.id for o in services.orders_of(session, customer.id, status=PAID)] == ids[1:]
    assert [o.id for o in services.orders_of(session, customer.id, status=SHIPPED)] == ids[:1]
    with pytest.raises(ValueError):
        services.pay(session, ids[0])
    session.rollback()


@pytest.mark.parametrize("round_", ROUNDS)
def test_cancel_returns_stock(session, catalogue, customer, round_):
    order = services.open_order(session, customer)
    for sku in catalogue[:6]:
        services.add_line(session, order, sku, quantity=3)
    services.place(session, order)
    assert all(services.product_by_sku(session, sku).stock == 97 for sku in catalogue[:6])

    services.cancel(session, order)

    for sku in catalogue[:6]:
        assert services.product_by_sku(session, sku).stock == 100
    assert services.orders_of(session, customer.id, status=CANCELLED)[0].id == order.id


@pytest.mark.parametrize("round_", ROUNDS)
def test_out_of_stock_is_refused(session, catalogue, customer, round_):
    scarce = catalogue[round_ % len(catalogue)]
    product = services.product_by_sku(session, scarce)
    product.stock = 2
    session.commit()

    order = services.open_order(session, customer)
    services.add_line(session, order, scarce, quantity=2)
    with pytest.raises(services.OutOfStock):
        services.add_line(session, order, scarce, quantity=1)
    session.rollback()

    services.restock(session, [scarce], 10)
    order = services.open_order(session, customer)
    services.add_line(session, order, scarce, quantity=5)
    services.place(session, order)
    assert session.execute(select(Product.stock).where(Product.sku == scarce)).scalar_one() == 7
