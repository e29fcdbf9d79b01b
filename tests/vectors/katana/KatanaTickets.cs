// Katana access tickets made and read independently of tokengate's Rust code, from the public
// sources with .NET's own primitives (Mono's System.Security.Cryptography, BinaryWriter,
// GZipStream, System.Security.Claims):
//
// - The ticket: a port of Katana's TicketSerializer and PropertiesSerializer (aspnet/AspNetKatana,
//   src/Microsoft.Owin.Security/DataHandler/Serializer/, Copyright (c) .NET Foundation,
//   Apache License 2.0), format version 3, gzip-compressed as TicketSerializer.Serialize does.
//   The BootstrapContext (System.IdentityModel) is written as Katana writes an absent one (0).
// - The protection: ASP.NET 4.5's MachineKey.Protect (microsoft/referencesource,
//   System.Web/Security/MachineKey.cs and Security/Cryptography/: Purpose, SP800_108,
//   NetFXCryptoService), written here from those descriptions: keys derived with NIST SP 800-108
//   in counter mode over HMACSHA512 (label "User.MachineKey.Protect", context the purposes as
//   BinaryWriter strings), then IV || CBC-PKCS7(data) || HMAC(IV || ciphertext).
// - The text: Katana's Base64UrlTextEncoder (base64url, '=' trimmed).
//
//   mcs -nologo -out:KatanaTickets.exe KatanaTickets.cs && mono KatanaTickets.exe make OUT.tsv
//   mono KatanaTickets.exe read IN.tsv
//
// "make" writes one line per machineKey setting: validation, decryption, validation key hex,
// decryption key hex, ticket; each ticket holds the claims and properties of Expected().
// "read" takes lines of the same shape (from tokengate) and prints each ticket it reads in the
// canonical form of Describe(), or "invalid" when it does not unprotect or parse.
// Kept C# 7-compatible for mono's mcs.

using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;

static class KatanaTickets
{
    static readonly string[] Purposes = { "Microsoft.Owin.Security.OAuth", "Access_Token", "v1" };

    // validation, decryption, validation key, decryption key: every algorithm and key size.
    static readonly string[][] Settings =
    {
        new[] { "SHA1", "AES", "11223344556677889900aabbccddeeff0011223344556677", "00112233445566778899aabbccddeeff" },
        new[] { "HMACSHA256", "AES", "2e7a2ad4fb1e4a7a8b6c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c", "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF" },
        new[] { "HMACSHA384", "AES", "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718", "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978" },
        new[] { "HMACSHA512", "3DES", "5a5b5c5d5e5f60616263646566676869707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4", "1234567890abcdeffedcba09876543211122334455667788" },
        new[] { "HMACSHA256", "3DES", "99887766554433221100ffeeddccbbaa99887766554433221100ffeeddccbbaa", "0123456789abcdef0011223344556677" },
    };

    static int Main(string[] args)
    {
        if (args.Length == 2 && args[0] == "make") return Make(args[1]);
        if (args.Length == 2 && args[0] == "read") return Read(args[1]);
        Console.Error.WriteLine("usage: KatanaTickets.exe make OUT.tsv | read IN.tsv");
        return 2;
    }

    // The ticket tokengate's test expects: the template's identity and properties, a claim of
    // another issuer, a non-ASCII value and a value longer than 127 bytes (a two-byte length).
    static Tuple<ClaimsIdentity, List<KeyValuePair<string, string>>> Expected()
    {
        var identity = new ClaimsIdentity("Bearer", ClaimTypes.Name, ClaimTypes.Role);
        identity.AddClaim(new Claim(ClaimTypes.NameIdentifier, "614a1d03-873d-489e-9ab5-fb53b0a0c64f"));
        identity.AddClaim(new Claim(ClaimTypes.Name, "user@example.com"));
        identity.AddClaim(new Claim("http://schemas.microsoft.com/accesscontrolservice/2010/07/claims/identityprovider", "ASP.NET Identity"));
        identity.AddClaim(new Claim(ClaimTypes.Role, "Administrator"));
        identity.AddClaim(new Claim("urn:tokengate:display", "Zoë Ünïcode ✓", ClaimValueTypes.String, "https://legacy.example"));
        identity.AddClaim(new Claim("urn:tokengate:long", new string('x', 200), ClaimValueTypes.Integer));
        var issued = new DateTimeOffset(2020, 9, 13, 9, 35, 33, TimeSpan.Zero);
        var properties = new List<KeyValuePair<string, string>>
        {
            new KeyValuePair<string, string>("userName", "user@example.com"),
            new KeyValuePair<string, string>("userId", "614a1d03-873d-489e-9ab5-fb53b0a0c64f"),
            new KeyValuePair<string, string>("role", "Administrator"),
            // AuthenticationProperties.IssuedUtc/ExpiresUtc: DateTimeOffset.ToString("r").
            new KeyValuePair<string, string>(".issued", issued.ToString("r", System.Globalization.CultureInfo.InvariantCulture)),
            new KeyValuePair<string, string>(".expires", issued.AddDays(14).ToString("r", System.Globalization.CultureInfo.InvariantCulture)),
        };
        return Tuple.Create(identity, properties);
    }

    static int Make(string path)
    {
        var expected = Expected();
        using (var output = new StreamWriter(path, false, new UTF8Encoding(false)))
        {
            foreach (var s in Settings)
            {
                byte[] data = Serialize(expected.Item1, expected.Item2);
                string token = Base64UrlEncode(Protect(s[0], s[1], s[2], s[3], data));
                // Read back here first: a program that cannot read its own output proves nothing.
                if (Describe(Unprotect(s[0], s[1], s[2], s[3], token)) != Describe(expected.Item1, expected.Item2))
                {
                    Console.Error.WriteLine("round trip failed for " + s[0] + "/" + s[1]);
                    return 1;
                }
                output.Write(string.Join("\t", s) + "\t" + token + "\n");
            }
        }
        return 0;
    }

    static int Read(string path)
    {
        foreach (string line in File.ReadAllLines(path, Encoding.UTF8))
        {
            if (line.Length == 0) continue;
            string[] f = line.Split('\t');
            string described;
            try
            {
                var ticket = Unprotect(f[0], f[1], f[2], f[3], f[4]);
                described = ticket == null ? "invalid" : Describe(ticket);
            }
            catch (CryptographicException) { described = "invalid"; }
            catch (FormatException) { described = "invalid"; }
            catch (InvalidDataException) { described = "invalid"; }
            catch (EndOfStreamException) { described = "invalid"; }
            Console.Out.Write(described + "\n");
        }
        return 0;
    }

    static string Describe(Tuple<ClaimsIdentity, List<KeyValuePair<string, string>>> ticket)
    {
        return ticket == null ? "invalid" : Describe(ticket.Item1, ticket.Item2);
    }

    // One field a line, "end" last: what tokengate's test writes for the same ticket.
    static string Describe(ClaimsIdentity identity, List<KeyValuePair<string, string>> properties)
    {
        var text = new StringBuilder();
        text.Append("authentication_type=" + identity.AuthenticationType + "\n");
        text.Append("name_claim_type=" + identity.NameClaimType + "\n");
        text.Append("role_claim_type=" + identity.RoleClaimType + "\n");
        foreach (var c in identity.Claims)
            text.Append("claim=" + c.Type + "|" + c.Value + "|" + c.ValueType + "|" + c.Issuer + "|" + c.OriginalIssuer + "\n");
        foreach (var p in properties)
            text.Append("property=" + p.Key + "|" + p.Value + "\n");
        text.Append("end");
        return text.ToString();
    }

    // ---- Katana's TicketSerializer, format version 3 (a port; see the header) ----

    const int FormatVersion = 3;
    const int PropertiesFormatVersion = 1;
    const string DefaultStringPlaceholder = "\0";
    const string NameClaimType = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";
    const string RoleClaimType = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role";
    const string LocalAuthority = "LOCAL AUTHORITY";
    const string StringValueType = "http://www.w3.org/2001/XMLSchema#string";

    static byte[] Serialize(ClaimsIdentity identity, List<KeyValuePair<string, string>> properties)
    {
        using (var memory = new MemoryStream())
        {
            using (var compression = new GZipStream(memory, CompressionLevel.Optimal))
            using (var writer = new BinaryWriter(compression))
            {
                writer.Write(FormatVersion);
                writer.Write(identity.AuthenticationType);
                WriteWithDefault(writer, identity.NameClaimType, NameClaimType);
                WriteWithDefault(writer, identity.RoleClaimType, RoleClaimType);
                writer.Write(identity.Claims.Count());
                foreach (var claim in identity.Claims)
                {
                    WriteWithDefault(writer, claim.Type, identity.NameClaimType);
                    writer.Write(claim.Value);
                    WriteWithDefault(writer, claim.ValueType, StringValueType);
                    WriteWithDefault(writer, claim.Issuer, LocalAuthority);
                    WriteWithDefault(writer, claim.OriginalIssuer, claim.Issuer);
                }
                writer.Write(0); // no BootstrapContext
                writer.Write(PropertiesFormatVersion);
                writer.Write(properties.Count);
                foreach (var kv in properties)
                {
                    writer.Write(kv.Key);
                    writer.Write(kv.Value);
                }
            }
            return memory.ToArray();
        }
    }

    static Tuple<ClaimsIdentity, List<KeyValuePair<string, string>>> Deserialize(byte[] data)
    {
        using (var memory = new MemoryStream(data))
        using (var compression = new GZipStream(memory, CompressionMode.Decompress))
        using (var reader = new BinaryReader(compression))
        {
            if (reader.ReadInt32() != FormatVersion) return null;
            string authenticationType = reader.ReadString();
            string nameClaimType = ReadWithDefault(reader, NameClaimType);
            string roleClaimType = ReadWithDefault(reader, RoleClaimType);
            int count = reader.ReadInt32();
            var claims = new Claim[count];
            for (int index = 0; index != count; ++index)
            {
                string type = ReadWithDefault(reader, nameClaimType);
                string value = reader.ReadString();
                string valueType = ReadWithDefault(reader, StringValueType);
                string issuer = ReadWithDefault(reader, LocalAuthority);
                string originalIssuer = ReadWithDefault(reader, issuer);
                claims[index] = new Claim(type, value, valueType, issuer, originalIssuer);
            }
            var identity = new ClaimsIdentity(claims, authenticationType, nameClaimType, roleClaimType);
            int bootstrapContextSize = reader.ReadInt32();
            if (bootstrapContextSize > 0) reader.ReadString();
            if (reader.ReadInt32() != PropertiesFormatVersion) return null;
            int propertyCount = reader.ReadInt32();
            var extra = new Dictionary<string, string>(propertyCount);
            var ordered = new List<KeyValuePair<string, string>>();
            for (int index = 0; index != propertyCount; ++index)
            {
                string key = reader.ReadString();
                string value = reader.ReadString();
                extra.Add(key, value);
                ordered.Add(new KeyValuePair<string, string>(key, value));
            }
            return Tuple.Create(identity, ordered);
        }
    }

    static void WriteWithDefault(BinaryWriter writer, string value, string defaultValue)
    {
        writer.Write(string.Equals(value, defaultValue, StringComparison.Ordinal) ? DefaultStringPlaceholder : value);
    }

    static string ReadWithDefault(BinaryReader reader, string defaultValue)
    {
        string value = reader.ReadString();
        return string.Equals(value, DefaultStringPlaceholder, StringComparison.Ordinal) ? defaultValue : value;
    }

    // ---- ASP.NET 4.5's MachineKey.Protect (from the public description; see the header) ----

    static byte[] Hex(string hex)
    {
        var bytes = new byte[hex.Length / 2];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = Convert.ToByte(hex.Substring(2 * i, 2), 16);
        return bytes;
    }

    static byte[] DeriveKey(byte[] master)
    {
        byte[] label = Encoding.UTF8.GetBytes("User.MachineKey.Protect");
        byte[] context;
        using (var stream = new MemoryStream())
        using (var writer = new BinaryWriter(stream, new UTF8Encoding(false, true)))
        {
            foreach (string purpose in Purposes) writer.Write(purpose);
            writer.Flush();
            context = stream.ToArray();
        }
        int bits = master.Length * 8;
        var output = new byte[master.Length];
        using (var hmac = new HMACSHA512(master))
        {
            int written = 0;
            for (uint i = 1; written < output.Length; i++)
            {
                var input = new MemoryStream();
                input.Write(BigEndian(i), 0, 4);
                input.Write(label, 0, label.Length);
                input.WriteByte(0);
                input.Write(context, 0, context.Length);
                input.Write(BigEndian((uint)bits), 0, 4);
                byte[] block = hmac.ComputeHash(input.ToArray());
                int n = Math.Min(block.Length, output.Length - written);
                Buffer.BlockCopy(block, 0, output, written, n);
                written += n;
            }
        }
        return output;
    }

    static byte[] BigEndian(uint value)
    {
        return new[] { (byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value };
    }

    static SymmetricAlgorithm Cipher(string decryption, byte[] key)
    {
        SymmetricAlgorithm cipher;
        if (decryption == "AES") cipher = new AesCryptoServiceProvider();
        else if (decryption == "3DES") cipher = new TripleDESCryptoServiceProvider();
        else throw new ArgumentException("decryption " + decryption);
        cipher.Mode = CipherMode.CBC;
        cipher.Padding = PaddingMode.PKCS7;
        cipher.Key = key;
        return cipher;
    }

    static KeyedHashAlgorithm Mac(string validation, byte[] key)
    {
        switch (validation)
        {
            case "SHA1": return new HMACSHA1(key);
            case "HMACSHA256": return new HMACSHA256(key);
            case "HMACSHA384": return new HMACSHA384(key);
            case "HMACSHA512": return new HMACSHA512(key);
            default: throw new ArgumentException("validation " + validation);
        }
    }

    static byte[] Protect(string validation, string decryption, string validationKey, string decryptionKey, byte[] data)
    {
        using (var cipher = Cipher(decryption, DeriveKey(Hex(decryptionKey))))
        using (var mac = Mac(validation, DeriveKey(Hex(validationKey))))
        {
            cipher.GenerateIV();
            var memory = new MemoryStream();
            memory.Write(cipher.IV, 0, cipher.IV.Length);
            using (var encryptor = cipher.CreateEncryptor())
            {
                byte[] encrypted = encryptor.TransformFinalBlock(data, 0, data.Length);
                memory.Write(encrypted, 0, encrypted.Length);
            }
            byte[] signed = memory.ToArray();
            byte[] tag = mac.ComputeHash(signed);
            return signed.Concat(tag).ToArray();
        }
    }

    static Tuple<ClaimsIdentity, List<KeyValuePair<string, string>>> Unprotect(string validation, string decryption, string validationKey, string decryptionKey, string text)
    {
        byte[] data = Base64UrlDecode(text);
        using (var cipher = Cipher(decryption, DeriveKey(Hex(decryptionKey))))
        using (var mac = Mac(validation, DeriveKey(Hex(validationKey))))
        {
            int ivLength = cipher.BlockSize / 8;
            int tagLength = mac.HashSize / 8;
            int payload = data.Length - ivLength - tagLength;
            if (payload <= 0) return null;
            byte[] tag = mac.ComputeHash(data, 0, ivLength + payload);
            int diff = 0;
            for (int i = 0; i < tagLength; i++) diff |= tag[i] ^ data[ivLength + payload + i];
            if (diff != 0) return null;
            cipher.IV = data.Take(ivLength).ToArray();
            using (var decryptor = cipher.CreateDecryptor())
            {
                return Deserialize(decryptor.TransformFinalBlock(data, ivLength, payload));
            }
        }
    }

    // ---- Katana's Base64UrlTextEncoder ----

    static string Base64UrlEncode(byte[] data)
    {
        return Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    static byte[] Base64UrlDecode(string text)
    {
        string s = text.Replace('-', '+').Replace('_', '/');
        int padding = 3 - ((s.Length + 3) % 4);
        return Convert.FromBase64String(padding == 0 ? s : s + new string('=', padding));
    }
}
