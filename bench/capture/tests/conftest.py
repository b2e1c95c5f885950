"""Fixtures the way application test suites usually have them: one engine and
schema per run, a fresh Session per test, a catalogue seeded per test, and
every table emptied after each test.

The database comes from TXLENS_BENCH_DB_URL (any SQLAlchemy URL); without it,
a SQLite file in pytest's temporary directory.
"""

import os

import pytest
import sqlalchemy
from sqlalchemy import create_engine, delete
from sqlalchemy.orm import Session

from shop.models import Base, Customer, Order, OrderLine, Product

SA14 = sqlalchemy.__version__.startswith("1.")
CATALOGUE_SIZE = 12


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    url = os.environ.get("TXLENS_BENCH_DB_URL") or "sqlite:///%s" % (tmp_path_factory.mktemp("db") / "shop.db")
    extra = {"future": True} if SA14 else {}
    engine = create_engine(url, **extra)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    yield engine
    Base.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def session(engine):
    extra = {"future": True} if SA14 else {}
    with Session(engine, **extra) as session:
        yield session


@pytest.fixture(autouse=True)
def empty_tables(engine):
    yield
    with Session(engine) as cleanup:
        for model in (OrderLine, Order, Customer, Product):
            cleanup.execute(delete(model))
        cleanup.commit()


@pytest.fixture
def catalogue(session):
    products = [
        Product(sku="SKU-%03d" % n, name="Product %d" % n, price_cents=250 + 75 * n, stock=100)
        for n in range(CATALOGUE_SIZE)
    ]
    session.add_all(products)
    session.commit()
    return [p.sku for p in products]


@pytest.fixture
def customer(session):
    customer = Customer(email="buyer@example.com", name="Buyer")
    session.add(customer)
    session.commit()
    return customer
