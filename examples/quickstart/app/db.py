import os

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

# The development database; tests are meant to swap SessionLocal for their own.
DATABASE_URL = os.environ.get("QUICKSTART_DATABASE_URL", "sqlite:///quickstart-dev.db")

engine = create_engine(DATABASE_URL)
SessionLocal = sessionmaker(bind=engine)
