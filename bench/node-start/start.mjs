// An ES module that does nothing: the same, started through Node's ES module loader.
