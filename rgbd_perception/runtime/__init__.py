"""Device selection and (later) the model runner shared by every stage."""
