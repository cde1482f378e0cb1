"""Customers: their record (name, phones, address), their appliances, and the lookup a
call center uses all day — by any one of name, phone or address, with the whole history."""
