import pytest

from shop import services
from shop.models import CANCELLED

ROUNDS = range(56)


@pytest.mark.parametrize("round_", ROUNDS)
def test_revenue_report_counts_live_orders(session, catalogue, round_):
    customers = [
        services.register_customer(session, "c%d-%d@example.com" % (round_, n), "Customer %d" % n) for n in range(4)
    ]
    expected = {}
    for n, customer in enumerate(customers):
        for k in range(1 + n % 2):
            order = services.open_order(session, customer)
            services.add_line(session, order, catalogue[(n + k) % len(catalogue)], quantity=1 + k)
            services.place(session, order)
            expected.setdefault(customer.email, [0, 0])
            expected[customer.email][0] += 1
            expected[customer.email][1] += order.total_cents
    cancelled = services.open_order(session, customers[0])
    services.add_line(session, cancelled, catalogue[-1], quantity=1)
    services.place(session, cancelled)
    services.cancel(session, cancelled)

    report = services.revenue_by_customer(session)

    assert {email: [count, total] for email, count, total in report} == expected


@pytest.mark.parametrize("round_", ROUNDS)
def test_units_sold_ignores_cancelled(session, catalogue, customer, round_):
    sku = catalogue[round_ % len(catalogue)]
    kept = services.open_order(session, customer)
    services.add_line(session, kept, sku, quantity=4)
    services.place(session, kept)
    dropped = services.open_order(session, customer)
    services.add_line(session, dropped, sku, quantity=3)
    services.place(session, dropped)
    services.cancel(session, dropped)
    services.restock(session, catalogue[:4], 5)

    assert services.units_sold(session, sku) == 4
    assert dropped.status == CANCELLED
