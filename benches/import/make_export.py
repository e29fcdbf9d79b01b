#!/usr/bin/env python3
"""Writes a large AspNetUsers export (Identity 2 columns, as SQL Server Management Studio's
"Save Results As" CSV writes them) for measuring `tokengate users import`:

    python3 benches/import/make_export.py 1000000 > /tmp/AspNetUsers-1M.csv
    tokengate users import --from /tmp/AspNetUsers-1M.csv --out /tmp/users.toml      # TOML
    tokengate users import --config pg.toml --from /tmp/AspNetUsers-1M.csv          # postgres

Every hash is a valid ASP.NET Identity v3 value (random salt and subkey: the import parses
hashes, it never verifies one), so every row is imported.
"""
import base64
import os
import struct
import sys
import uuid

rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
out = sys.stdout
out.write("\ufeffId,Email,EmailConfirmed,PasswordHash,SecurityStamp,PhoneNumber,"
          "PhoneNumberConfirmed,TwoFactorEnabled,LockoutEndDateUtc,LockoutEnabled,"
          "AccessFailedCount,UserName\r\n")
header = bytes([1]) + struct.pack(">III", 1, 10000, 16)
for i in range(rows):
    hash_ = base64.b64encode(header + os.urandom(48)).decode()
    name = f"user{i}@example.com"
    out.write(f"{uuid.uuid4()},{name},1,{hash_},{uuid.uuid4()},NULL,0,0,NULL,1,0,{name}\r\n")
