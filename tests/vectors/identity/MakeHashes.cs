// ASP.NET Identity password hashes made independently of tokengate's Rust code: PBKDF2 from
// Mono's Rfc2898DeriveBytes, laid out as ASP.NET Identity's PasswordHasher writes them
// (aspnetcore, src/Identity/Extensions.Core/src/PasswordHasher.cs):
//   v2: 0x00, 16-byte salt, 32-byte PBKDF2-HMAC-SHA1 subkey, 1000 iterations;
//   v3: 0x01, big-endian u32 PRF (0 SHA1, 1 SHA256, 2 SHA512), u32 iterations, u32 salt
//       length, salt, subkey.
// Each password is hashed over itself ("plain") and over the lowercase hex of its UTF-8 SHA-1
// ("sha1_hex"), with random salts, and written as a JSON array.
//
//   mcs -nologo -out:MakeHashes.exe MakeHashes.cs && mono MakeHashes.exe OUT.json
//
// Before writing anything it reproduces aspnetcore's own published vectors
// (src/Identity/test/Identity.Test/PasswordHasherTest.cs, "my password" with the salt
// 00 01 ... 0f), so a Mono whose PBKDF2 ignored the PRF would fail here, not in the Rust test.
// Kept C# 7-compatible for mono's mcs.

using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text;

static class MakeHashes
{
    struct Kind
    {
        public string Name;      // "identity_v2" or "identity_v3"
        public string Prf;       // HashAlgorithmName
        public uint PrfCode;     // v3's header value
        public int Iterations;
        public Kind(string name, string prf, uint code, int iterations)
        {
            Name = name; Prf = prf; PrfCode = code; Iterations = iterations;
        }
    }

    static readonly Kind[] Kinds =
    {
        new Kind("identity_v2", "SHA1", 0, 1000),        // ASP.NET Identity 2 (Web API 2 era)
        new Kind("identity_v3", "SHA1", 0, 10000),       // a v3 header naming HMAC-SHA1
        new Kind("identity_v3", "SHA256", 1, 10000),     // ASP.NET Core Identity 2 to 6
        new Kind("identity_v3", "SHA512", 2, 100000),    // .NET 7 and later
    };

    static readonly string[] Passwords = { "my password", "P@ssw0rd!", "p\u00e4ssw\u00f6rd \u2713 \u00fcn\u00efcode" };

    static byte[] Pbkdf2(string input, byte[] salt, string prf, int iterations, int length)
    {
        using (var kdf = new Rfc2898DeriveBytes(input, salt, iterations, new HashAlgorithmName(prf)))
        {
            return kdf.GetBytes(length);
        }
    }

    static byte[] Layout(Kind kind, byte[] salt, byte[] subkey)
    {
        var bytes = new List<byte>();
        if (kind.Name == "identity_v2")
        {
            bytes.Add(0x00);
        }
        else
        {
            bytes.Add(0x01);
            foreach (uint field in new[] { kind.PrfCode, (uint)kind.Iterations, (uint)salt.Length })
            {
                bytes.Add((byte)(field >> 24));
                bytes.Add((byte)(field >> 16));
                bytes.Add((byte)(field >> 8));
                bytes.Add((byte)field);
            }
        }
        bytes.AddRange(salt);
        bytes.AddRange(subkey);
        return bytes.ToArray();
    }

    static string Hash(Kind kind, string input, byte[] salt)
    {
        return Convert.ToBase64String(Layout(kind, salt, Pbkdf2(input, salt, kind.Prf, kind.Iterations, 32)));
    }

    static string Sha1Hex(string password)
    {
        using (var sha1 = SHA1.Create())
        {
            var digest = sha1.ComputeHash(Encoding.UTF8.GetBytes(password));
            return BitConverter.ToString(digest).Replace("-", "").ToLowerInvariant();
        }
    }

    static string Json(string value)
    {
        var text = new StringBuilder("\"");
        foreach (char c in value)
        {
            if (c == '"' || c == '\\') text.Append('\\').Append(c);
            else if (c < 0x20 || c > 0x7e) text.AppendFormat("\\u{0:x4}", (int)c);
            else text.Append(c);
        }
        return text.Append('"').ToString();
    }

    static void SelfCheck()
    {
        var sequential = new byte[16];
        for (int i = 0; i < 16; i++) sequential[i] = (byte)i;
        var expected = new[]
        {
            // HashPassword_Version2 and HashPassword_Version3 in PasswordHasherTest.cs.
            new { Kind = Kinds[0], Hash = "AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggHIVY0sdEUfdyeM+E1LtH1uJg==" },
            new { Kind = Kinds[2], Hash = "AQAAAAEAACcQAAAAEAABAgMEBQYHCAkKCwwNDg+yWU7rLgUwPZb1Itsmra7cbxw2EFpwpVFIEtP+JIuUEw==" },
        };
        foreach (var vector in expected)
        {
            var made = Hash(vector.Kind, "my password", sequential);
            if (made != vector.Hash)
            {
                throw new Exception("PBKDF2 does not reproduce aspnetcore's vector: " + made);
            }
        }
        // A PRF Mono silently ignored would give SHA1's answer for SHA512 too.
        var salt = new byte[16];
        var sha1 = Convert.ToBase64String(Pbkdf2("x", salt, "SHA1", 1, 32));
        if (sha1 == Convert.ToBase64String(Pbkdf2("x", salt, "SHA512", 1, 32))
            || sha1 == Convert.ToBase64String(Pbkdf2("x", salt, "SHA256", 1, 32)))
        {
            throw new Exception("Rfc2898DeriveBytes ignores its HashAlgorithmName");
        }
    }

    static int Main(string[] args)
    {
        if (args.Length != 1)
        {
            Console.Error.WriteLine("usage: mono MakeHashes.exe OUT.json");
            return 64;
        }
        SelfCheck();
        var rng = RandomNumberGenerator.Create();
        var lines = new List<string>();
        foreach (var password in Passwords)
        {
            foreach (var over in new[] { "plain", "sha1_hex" })
            {
                var input = over == "plain" ? password : Sha1Hex(password);
                foreach (var kind in Kinds)
                {
                    var salt = new byte[16];
                    rng.GetBytes(salt);
                    lines.Add(string.Format(
                        "  {{\"kind\": {0}, \"prf\": {1}, \"iterations\": {2}, \"hash_input\": {3}, \"password\": {4}, \"hash\": {5}}}",
                        Json(kind.Name), Json(kind.Prf), kind.Iterations, Json(over), Json(password),
                        Json(Hash(kind, input, salt))));
                }
            }
        }
        File.WriteAllText(args[0], "[\n" + string.Join(",\n", lines) + "\n]\n");
        Console.WriteLine("MakeHashes: " + lines.Count + " hashes written to " + args[0]);
        return 0;
    }
}
