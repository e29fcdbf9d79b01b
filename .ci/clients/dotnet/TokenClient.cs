// tokengate .NET-style test client for the cloned ASP.NET Web API action
//   POST api/v1/auth/token   (models in CLR namespace IO.Swagger.Models)
//
// It talks to the gateway exactly as a legacy .NET client would: the request
// body is whatever DataContractSerializer writes for TokenRequest, and the
// answer is read back with DataContractSerializer(typeof(AccessTokenResponse)).
//
// Usage:
//   mono TokenClient.exe [--error-root NAME] [--error-ns NS] [--timeout SEC] [--expect-continue] BASE_URL
//     --error-root NAME  root element name of the 400 error body (default TokenError)
//     --error-ns NS      its namespace (default the IO.Swagger.Models contract namespace)
//     --timeout SEC      HttpClient timeout (default 30)
//     --expect-continue  send "Expect: 100-continue" like .NET Framework does (mono doesn't)
//   mono TokenClient.exe --dump      (prints reference bytes; no server needed)
//
// Exit codes: 0 all checks passed, 1 some check failed, 2 could not reach the
// server (connection refused, timeout, ...), 64 bad usage.
//
// Kept C# 7-compatible for mono's mcs (no async Main, no newer syntax).

using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Runtime.Serialization;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using System.Xml;

namespace IO.Swagger.Models
{
    // Plain [DataMember] (EmitDefaultValue=true): nulls are written as i:nil="true",
    // which is the wire format the project agreed on. Members are emitted in
    // DataContractSerializer order: ordinal by name, so "WindowsAuthentication"
    // (upper-case W) comes before every lower-case member.
    [DataContract]
    public class TokenRequest
    {
        [DataMember] public bool? WindowsAuthentication { get; set; }
        [DataMember] public string client_id { get; set; }
        [DataMember] public string client_secret { get; set; }
        [DataMember] public string scope { get; set; }
        [DataMember] public string username { get; set; }
        [DataMember] public string password { get; set; }
        [DataMember] public string grant_type { get; set; }
        [DataMember] public string refresh_token { get; set; }
    }

    // Every member of the documented AccessTokenResponse with its CLR type. The value types are
    // nullable: a member the server writes as i:nil reads as null (and is reported by name)
    // instead of failing the whole ReadObject. Program.CheckContract pins this list.
    [DataContract]
    public class AccessTokenResponse
    {
        [DataMember] public string access_token { get; set; }
        [DataMember] public int? expires_in { get; set; }
        [DataMember] public string redirect_url { get; set; }
        [DataMember] public string ip { get; set; }
        [DataMember] public bool? is_editor { get; set; }
        [DataMember] public int? refresh_expires_in { get; set; }
        [DataMember] public string refresh_token { get; set; }
        [DataMember] public string token_type { get; set; }
        [DataMember] public int? not_before_policy { get; set; }
        [DataMember] public string session_state { get; set; }
        [DataMember] public string scope { get; set; }
    }

    // Error contract for the 400 answer. The contract name here is only the
    // default; the root element name actually expected on the wire is given
    // with --error-root (and --error-ns) until the team settles on one.
    [DataContract(Name = "TokenError")]
    public class TokenError
    {
        [DataMember] public string error { get; set; }
        [DataMember] public string error_description { get; set; }
    }
}

namespace TokenGate.Ci
{
    using IO.Swagger.Models;

    class ConnectFailed : Exception
    {
        public ConnectFailed(string msg) : base(msg) { }
    }

    class RawResponse
    {
        public int Status;
        public string Reason;
        public string ContentType;
        public byte[] Body;
    }

    class Program
    {
        public const string ModelsNs = "http://schemas.datacontract.org/2004/07/IO.Swagger.Models";

        static int passed;
        static int failed;

        static int Main(string[] args)
        {
            string baseUrl = null;
            string errorRoot = "TokenError";
            string errorNs = ModelsNs;
            int timeoutSec = 30;
            bool dump = false;
            bool expectContinue = false;

            for (int i = 0; i < args.Length; i++)
            {
                string a = args[i];
                if (a == "--dump") { dump = true; }
                else if (a == "--error-root" && i + 1 < args.Length) { errorRoot = args[++i]; }
                else if (a == "--error-ns" && i + 1 < args.Length) { errorNs = args[++i]; }
                else if (a == "--timeout" && i + 1 < args.Length)
                {
                    if (!int.TryParse(args[++i], out timeoutSec) || timeoutSec <= 0)
                    { Console.Error.WriteLine("--timeout needs a positive number of seconds"); return 64; }
                }
                else if (a == "--expect-continue") { expectContinue = true; }
                else if (a == "-h" || a == "--help") { Usage(); return 0; }
                else if (a.StartsWith("--")) { Console.Error.WriteLine("unknown or incomplete option: " + a); Usage(); return 64; }
                else if (baseUrl == null) { baseUrl = a; }
                else { Console.Error.WriteLine("unexpected argument: " + a); Usage(); return 64; }
            }

            if (dump) return Dump.Run();

            if (baseUrl == null) { Usage(); return 64; }
            string url = baseUrl.TrimEnd('/') + "/api/v1/auth/token";
            Console.WriteLine("dotnet client: target " + url);
            Console.WriteLine("dotnet client: runtime " + RuntimeDescription());

            try
            {
                using (var http = new HttpClient())
                {
                    http.Timeout = TimeSpan.FromSeconds(timeoutSec);
                    // .NET Framework's HttpWebRequest sends "Expect: 100-continue" on
                    // POSTs by default; mono's HttpClient does not. Opt in to mimic it.
                    if (expectContinue) http.DefaultRequestHeaders.ExpectContinue = true;
                    Console.WriteLine("dotnet client: Expect: 100-continue " + (expectContinue ? "on" : "off (mono default)"));
                    RunAll(http, url, errorRoot, errorNs);
                }
            }
            catch (ConnectFailed e)
            {
                Console.WriteLine("ERROR: " + e.Message);
                failed++;
                Summary();
                return 2;
            }
            catch (Exception e)
            {
                // Anything unexpected: one readable line, not a stack dump.
                Console.WriteLine("ERROR: unexpected " + e.GetType().Name + ": " + Flatten(e));
                failed++;
                Summary();
                return 1;
            }

            Summary();
            return failed == 0 ? 0 : 1;
        }

        static void Usage()
        {
            Console.Error.WriteLine("usage: mono TokenClient.exe [--error-root NAME] [--error-ns NS] [--timeout SEC] [--expect-continue] BASE_URL");
            Console.Error.WriteLine("       mono TokenClient.exe --dump");
        }

        static void Summary()
        {
            Console.WriteLine();
            Console.WriteLine("dotnet client: " + passed + " passed, " + failed + " failed");
        }

        static string RuntimeDescription()
        {
            Type mono = Type.GetType("Mono.Runtime");
            if (mono != null)
            {
                var m = mono.GetMethod("GetDisplayName",
                    System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static);
                if (m != null) return "Mono " + m.Invoke(null, null);
            }
            return ".NET " + Environment.Version;
        }

        // ---------------------------------------------------------------- scenarios

        static void RunAll(HttpClient http, string url, string errorRoot, string errorNs)
        {
            CheckContract();

            // No request names a scope: every answer's scope is the client's default scopes.
            // (a) password grant
            var reqA = new TokenRequest
            {
                grant_type = "password",
                client_id = "demo-client",
                username = "user@example.com",
                password = "P@ssw0rd!",
            };
            AccessTokenResponse a = Exchange(http, url, "password", reqA);
            if (a != null) CheckUserToken("password", a);

            // (b) client_credentials grant, for both demo clients
            var reqB = new TokenRequest
            {
                grant_type = "client_credentials",
                client_id = "demo-confidential",
                client_secret = "demo-secret",
            };
            AccessTokenResponse b = Exchange(http, url, "client_credentials(demo-confidential)", reqB);
            if (b != null) CheckClientToken("client_credentials(demo-confidential)", b);
            var reqB2 = new TokenRequest
            {
                grant_type = "client_credentials",
                client_id = "demo-client",
            };
            AccessTokenResponse b2 = Exchange(http, url, "client_credentials(demo-client)", reqB2);
            if (b2 != null) CheckClientToken("client_credentials(demo-client)", b2);

            // (c) refresh_token grant, using the refresh token from (a)
            if (a == null || string.IsNullOrEmpty(a.refresh_token))
            {
                Fail("refresh_token", "skipped: no refresh_token from the password grant to refresh with");
            }
            else
            {
                var reqC = new TokenRequest
                {
                    grant_type = "refresh_token",
                    client_id = "demo-client",
                    refresh_token = a.refresh_token,
                };
                AccessTokenResponse c = Exchange(http, url, "refresh_token", reqC);
                if (c != null)
                {
                    CheckUserToken("refresh_token", c);
                    Check("refresh_token", a.session_state != null && a.session_state == c.session_state,
                        "session_state equal to the password grant's (" + Show(a.session_state) + " vs " + Show(c.session_state) + ")");
                    Check("refresh_token", c.refresh_token != null && c.refresh_token != a.refresh_token,
                        "a new refresh_token (was " + Abbrev(a.refresh_token) + ", got " + Abbrev(c.refresh_token) + ")");
                }
            }

            // (d) wrong password: HTTP 400 with an XML error contract
            var reqD = new TokenRequest
            {
                grant_type = "password",
                client_id = "demo-client",
                username = "user@example.com",
                password = "wrong-password",
            };
            WrongPassword(http, url, reqD, errorRoot, errorNs);
        }

        static AccessTokenResponse Exchange(HttpClient http, string url, string grant, TokenRequest req)
        {
            Console.WriteLine();
            Console.WriteLine("=== grant " + grant + " ===");
            byte[] body = Serialize(req);
            PrintBytes(">>> request body", body);

            RawResponse r = Post(http, url, body);
            PrintResponse(r);

            if (!Check(grant, r.Status == 200, "HTTP status 200 (got " + r.Status + ")")) return null;
            Check(grant, IsXml(r.ContentType), "response Content-Type is XML (got " + Show(r.ContentType) + ")");

            AccessTokenResponse resp;
            try
            {
                resp = (AccessTokenResponse)new DataContractSerializer(typeof(AccessTokenResponse))
                    .ReadObject(new MemoryStream(r.Body));
            }
            catch (Exception e)
            {
                Fail(grant, "body deserializes as AccessTokenResponse: " + Flatten(e));
                return null;
            }
            if (!Check(grant, resp != null, "body deserializes as AccessTokenResponse")) return null;
            CheckOrder(grant, r.Body, typeof(AccessTokenResponse));
            PrintToken(resp);
            return resp;
        }

        // Rules for the password and refresh_token grants (demo-client and the demo user): every
        // member has a value of its type. The types are the contract's, so "has a value" is
        // "not null" once ReadObject has succeeded; strings must also be non-empty.
        static void CheckUserToken(string g, AccessTokenResponse t)
        {
            NonEmpty(g, "access_token", t.access_token);
            Positive(g, "expires_in", t.expires_in);
            NonEmpty(g, "redirect_url", t.redirect_url);
            NonEmpty(g, "ip", t.ip);
            NotNull(g, "is_editor", t.is_editor);
            Positive(g, "refresh_expires_in", t.refresh_expires_in);
            NonEmpty(g, "refresh_token", t.refresh_token);
            NonEmpty(g, "token_type", t.token_type);
            NotNull(g, "not_before_policy", t.not_before_policy);
            NonEmpty(g, "session_state", t.session_state);
            NonEmpty(g, "scope", t.scope);
        }

        // client_credentials (both demo clients): every member has a value of its type except
        // is_editor, a user attribute with no user, and refresh_token, which the Swagger route
        // does not issue for client_credentials; then refresh_expires_in is exactly 0 (present, not nil).
        static void CheckClientToken(string g, AccessTokenResponse t)
        {
            NonEmpty(g, "access_token", t.access_token);
            Positive(g, "expires_in", t.expires_in);
            NonEmpty(g, "redirect_url", t.redirect_url);
            NonEmpty(g, "ip", t.ip);
            Check(g, t.is_editor == null, "member 'is_editor' is nil, no user (got " + Show(t.is_editor) + ")");
            Check(g, t.refresh_token == null, "member 'refresh_token' is nil, none issued (got " + Abbrev(t.refresh_token) + ")");
            Check(g, t.refresh_expires_in.HasValue && t.refresh_expires_in.Value == 0,
                "member 'refresh_expires_in' is 0 with no refresh_token (got " + Show(t.refresh_expires_in) + ")");
            NonEmpty(g, "token_type", t.token_type);
            NotNull(g, "not_before_policy", t.not_before_policy);
            NonEmpty(g, "session_state", t.session_state);
            NonEmpty(g, "scope", t.scope);
        }

        static void WrongPassword(HttpClient http, string url, TokenRequest req, string errorRoot, string errorNs)
        {
            const string g = "password(wrong)";
            Console.WriteLine();
            Console.WriteLine("=== grant password with a wrong password (expect 400) ===");
            byte[] body = Serialize(req);
            PrintBytes(">>> request body", body);
            RawResponse r = Post(http, url, body);
            PrintResponse(r);

            Check(g, r.Status == 400, "HTTP status 400 (got " + r.Status + ")");
            Check(g, IsXml(r.ContentType), "response Content-Type is XML (got " + Show(r.ContentType) + ")");

            TokenError err;
            string what = "body deserializes as error contract <" + errorRoot + " xmlns=\"" + errorNs + "\">";
            try
            {
                var ser = new DataContractSerializer(typeof(TokenError), errorRoot, errorNs);
                err = (TokenError)ser.ReadObject(new MemoryStream(r.Body));
            }
            catch (Exception e)
            {
                Fail(g, what + ": " + Flatten(e));
                return;
            }
            if (!Check(g, err != null, what)) return;
            CheckOrder(g, r.Body, typeof(TokenError));
            Console.WriteLine("    error             = " + Show(err.error));
            Console.WriteLine("    error_description = " + Show(err.error_description));
            NonEmpty(g, "error", err.error);
            NotNull(g, "error_description", err.error_description);
        }

        // The AccessTokenResponse contract above has exactly the documented members, each with the
        // CLR type of its documented type (string; int and bool as Nullable so that a nil reads as
        // null and is reported by member name). A change to the class fails here, not as a
        // silently skipped member or a ReadObject exception.
        static void CheckContract()
        {
            const string g = "contract";
            var expected = new Dictionary<string, Type>
            {
                { "access_token", typeof(string) },
                { "expires_in", typeof(int?) },
                { "redirect_url", typeof(string) },
                { "ip", typeof(string) },
                { "is_editor", typeof(bool?) },
                { "refresh_expires_in", typeof(int?) },
                { "refresh_token", typeof(string) },
                { "token_type", typeof(string) },
                { "not_before_policy", typeof(int?) },
                { "session_state", typeof(string) },
                { "scope", typeof(string) },
            };
            var actual = new Dictionary<string, Type>();
            foreach (var p in typeof(AccessTokenResponse).GetProperties())
                if (p.GetCustomAttributes(typeof(DataMemberAttribute), false).Length > 0) actual[p.Name] = p.PropertyType;
            foreach (var e in expected)
            {
                Type got;
                bool present = actual.TryGetValue(e.Key, out got);
                Check(g, present && got == e.Value, "AccessTokenResponse member '" + e.Key + "' is a [DataMember] of type "
                    + TypeName(e.Value) + " (got " + (present ? TypeName(got) : "no such member") + ")");
            }
            foreach (var name in actual.Keys)
                if (!expected.ContainsKey(name))
                    Fail(g, "AccessTokenResponse has undocumented [DataMember] '" + name + "' of type " + TypeName(actual[name]));
        }

        static string TypeName(Type t)
        {
            Type inner = Nullable.GetUnderlyingType(t);
            return inner != null ? inner.Name + "?" : t.Name;
        }

        // DataContractSerializer reads members only in its own order (ordinal by
        // member name); an element that comes after a later member is skipped
        // silently and its member stays null. So a body in any other order "works"
        // but loses data: check the order explicitly and name what would be lost.
        static void CheckOrder(string g, byte[] body, Type contract)
        {
            var expected = new List<string>();
            foreach (var p in contract.GetProperties())
                if (p.GetCustomAttributes(typeof(DataMemberAttribute), false).Length > 0) expected.Add(p.Name);
            expected.Sort(string.CompareOrdinal);

            var seen = new List<string>();
            try
            {
                using (var xr = XmlReader.Create(new MemoryStream(body)))
                {
                    xr.MoveToContent();
                    int depth = xr.Depth;
                    while (xr.Read())
                        if (xr.NodeType == XmlNodeType.Element && xr.Depth == depth + 1) seen.Add(xr.LocalName);
                }
            }
            catch (Exception e)
            {
                Fail(g, "body is well-formed XML: " + Flatten(e));
                return;
            }

            var lost = new List<string>();
            var unknown = new List<string>();
            int at = -1;
            foreach (string name in seen)
            {
                int idx = expected.IndexOf(name);
                if (idx < 0) { unknown.Add(name); continue; }
                if (idx <= at) lost.Add(name); else at = idx;
            }
            Check(g, lost.Count == 0, "members in DataContract order (" + string.Join(", ", expected) + ")"
                + (lost.Count == 0 ? "" : "; out of order, so silently dropped by DataContractSerializer: " + string.Join(", ", lost)
                   + "; body order was: " + string.Join(", ", seen)));
            if (unknown.Count > 0)
                Console.WriteLine("INFO {0}: elements not in the contract (ignored by DataContractSerializer): {1}", g, string.Join(", ", unknown));
        }

        // ---------------------------------------------------------------- HTTP

        public static byte[] Serialize<T>(T obj)
        {
            var ser = new DataContractSerializer(typeof(T));
            using (var ms = new MemoryStream())
            {
                ser.WriteObject(ms, obj);
                return ms.ToArray();
            }
        }

        public static HttpContent XmlContent(byte[] body)
        {
            var content = new StreamContent(new MemoryStream(body));
            content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/xml; charset=utf-8");
            return content;
        }

        static RawResponse Post(HttpClient http, string url, byte[] body)
        {
            var req = new HttpRequestMessage(HttpMethod.Post, url);
            req.Content = XmlContent(body);
            req.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/xml"));
            HttpResponseMessage resp;
            try
            {
                resp = http.SendAsync(req).GetAwaiter().GetResult();
            }
            catch (TaskCanceledException)
            {
                throw new ConnectFailed("no answer from " + url + " within " + http.Timeout.TotalSeconds + " s (timeout)");
            }
            catch (HttpRequestException e)
            {
                throw new ConnectFailed("cannot reach " + url + ": " + Describe(e));
            }
            using (resp)
            {
                var r = new RawResponse();
                r.Status = (int)resp.StatusCode;
                r.Reason = resp.ReasonPhrase;
                r.ContentType = resp.Content != null && resp.Content.Headers.ContentType != null
                    ? resp.Content.Headers.ContentType.ToString() : null;
                r.Body = resp.Content != null ? resp.Content.ReadAsByteArrayAsync().GetAwaiter().GetResult() : new byte[0];
                return r;
            }
        }

        // Turn HttpRequestException -> WebException -> SocketException into one line,
        // naming "connection refused" plainly when that is what happened.
        static string Describe(Exception e)
        {
            for (Exception x = e; x != null; x = x.InnerException)
            {
                var se = x as SocketException;
                if (se != null)
                {
                    if (se.SocketErrorCode == SocketError.ConnectionRefused)
                        return "connection refused (" + se.Message + ")";
                    return "socket error " + se.SocketErrorCode + " (" + se.Message + ")";
                }
                var we = x as WebException;
                if (we != null && we.Status == WebExceptionStatus.ConnectFailure
                    && we.Message.IndexOf("refused", StringComparison.OrdinalIgnoreCase) >= 0)
                    return "connection refused (" + we.Message + ")";
            }
            return Flatten(e);
        }

        public static string Flatten(Exception e)
        {
            var sb = new StringBuilder();
            for (Exception x = e; x != null; x = x.InnerException)
            {
                if (sb.Length > 0) sb.Append(" -> ");
                sb.Append(x.GetType().Name).Append(": ").Append(x.Message);
            }
            return sb.ToString();
        }

        static bool IsXml(string contentType)
        {
            if (contentType == null) return false;
            string ct = contentType.ToLowerInvariant();
            return ct.StartsWith("application/xml") || ct.StartsWith("text/xml");
        }

        // ---------------------------------------------------------------- printing

        public static void PrintBytes(string title, byte[] bytes)
        {
            bool bom = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF;
            Console.WriteLine(title + " (" + bytes.Length + " bytes, UTF-8 BOM: " + (bom ? "yes" : "no") + "):");
            Console.WriteLine(new UTF8Encoding(false).GetString(bytes, bom ? 3 : 0, bytes.Length - (bom ? 3 : 0)));
        }

        static void PrintResponse(RawResponse r)
        {
            Console.WriteLine("<<< status: " + r.Status + " " + r.Reason);
            Console.WriteLine("<<< Content-Type: " + Show(r.ContentType));
            PrintBytes("<<< response body", r.Body);
        }

        static void PrintToken(AccessTokenResponse t)
        {
            Console.WriteLine("    access_token       = " + Abbrev(t.access_token));
            Console.WriteLine("    expires_in         = " + Show(t.expires_in));
            Console.WriteLine("    ip                 = " + Show(t.ip));
            Console.WriteLine("    is_editor          = " + Show(t.is_editor));
            Console.WriteLine("    not_before_policy  = " + Show(t.not_before_policy));
            Console.WriteLine("    redirect_url       = " + Show(t.redirect_url));
            Console.WriteLine("    refresh_expires_in = " + Show(t.refresh_expires_in));
            Console.WriteLine("    refresh_token      = " + Abbrev(t.refresh_token));
            Console.WriteLine("    scope              = " + Show(t.scope));
            Console.WriteLine("    session_state      = " + Show(t.session_state));
            Console.WriteLine("    token_type         = " + Show(t.token_type));
        }

        static string Abbrev(string s)
        {
            if (s == null) return "null";
            return s.Length > 40 ? "\"" + s.Substring(0, 40) + "...\" (" + s.Length + " chars)" : "\"" + s + "\"";
        }

        public static string Show(string s) { return s == null ? "null" : "\"" + s + "\""; }
        public static string Show(int? v) { return v.HasValue ? v.Value.ToString() : "null"; }
        public static string Show(bool? v) { return v.HasValue ? (v.Value ? "true" : "false") : "null"; }

        // ---------------------------------------------------------------- checks

        static bool Check(string grant, bool ok, string what)
        {
            if (ok) { passed++; Console.WriteLine("PASS " + grant + ": " + what); }
            else { failed++; Console.WriteLine("FAIL " + grant + ": " + what); }
            return ok;
        }

        static void Fail(string grant, string what) { Check(grant, false, what); }

        static void NotNull(string g, string member, object v)
        {
            Check(g, v != null, "member '" + member + "' is not null" + (v == null ? " (got null)" : ""));
        }

        static void NotNull(string g, string member, bool? v)
        {
            Check(g, v.HasValue, "member '" + member + "' has a bool value (got " + Show(v) + ")");
        }

        static void NotNull(string g, string member, int? v)
        {
            Check(g, v.HasValue, "member '" + member + "' has an int value (got " + Show(v) + ")");
        }

        static void NonEmpty(string g, string member, string v)
        {
            Check(g, !string.IsNullOrEmpty(v), "member '" + member + "' is non-empty"
                + (v == null ? " (got null)" : v.Length == 0 ? " (got \"\")" : ""));
        }

        static void Positive(string g, string member, int? v)
        {
            Check(g, v.HasValue && v.Value > 0, "member '" + member + "' > 0 (got " + Show(v) + ")");
        }
    }

    // ---------------------------------------------------------------- --dump

    // Prints reference material: the exact bytes DataContractSerializer writes,
    // how it reads hand-written variants, and what HttpClient puts on the wire
    // (captured by a throw-away listener on 127.0.0.1, one request each).
    static class Dump
    {
        public static int Run()
        {
            Console.WriteLine("# runtime: " + Environment.Version + " " + RuntimeName());
            Console.WriteLine();

            Section("TokenRequest, grant password", new TokenRequest
            {
                grant_type = "password", client_id = "demo-client",
                username = "user@example.com", password = "P@ssw0rd!",
            });
            Section("TokenRequest, grant client_credentials", new TokenRequest
            {
                grant_type = "client_credentials", client_id = "demo-confidential", client_secret = "demo-secret",
            });
            Section("TokenRequest, grant refresh_token", new TokenRequest
            {
                grant_type = "refresh_token", client_id = "demo-client", refresh_token = "r",
            });
            Section("AccessTokenResponse, all members set (redirect_url null)", SampleResponse());
            Section("TokenError (contract name TokenError)", new TokenError { error = "invalid_grant", error_description = "Invalid user credentials" });
            byte[] custom;
            using (var ms = new MemoryStream())
            {
                new DataContractSerializer(typeof(TokenError), "OAuthError", Program.ModelsNs).WriteObject(ms, new TokenError { error = "invalid_grant", error_description = null });
                custom = ms.ToArray();
            }
            Console.WriteLine("## TokenError written with root name override \"OAuthError\", error_description null");
            Program.PrintBytes("bytes", custom);
            Hex(custom, 48);
            Console.WriteLine();

            ReadVariants();
            ProbeHeaders();
            return 0;
        }

        static string RuntimeName()
        {
            Type mono = Type.GetType("Mono.Runtime");
            if (mono == null) return "(.NET)";
            var m = mono.GetMethod("GetDisplayName", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static);
            return m == null ? "(Mono)" : "(Mono " + m.Invoke(null, null) + ")";
        }

        static AccessTokenResponse SampleResponse()
        {
            return new AccessTokenResponse
            {
                access_token = "a", expires_in = 1799, redirect_url = null, ip = "127.0.0.1",
                is_editor = true, not_before_policy = 0, refresh_expires_in = 1209600,
                refresh_token = "r", scope = "s", session_state = "x", token_type = "bearer",
            };
        }

        static void Section<T>(string title, T obj)
        {
            byte[] b = Program.Serialize(obj);
            Console.WriteLine("## " + title);
            Program.PrintBytes("bytes", b);
            Hex(b, 48);
            Console.WriteLine();
        }

        static void Hex(byte[] b, int n)
        {
            var sb = new StringBuilder("first bytes (hex):");
            for (int i = 0; i < Math.Min(n, b.Length); i++) sb.Append(' ').Append(b[i].ToString("X2"));
            sb.Append(" ... last bytes:");
            for (int i = Math.Max(0, b.Length - 4); i < b.Length; i++) sb.Append(' ').Append(b[i].ToString("X2"));
            Console.WriteLine(sb.ToString());
        }

        // ------------------------------------------------------------ reading

        const string I = "http://www.w3.org/2001/XMLSchema-instance";

        static void ReadVariants()
        {
            string ns = Program.ModelsNs;
            string open = "<AccessTokenResponse xmlns=\"" + ns + "\" xmlns:i=\"" + I + "\">";
            string close = "</AccessTokenResponse>";

            Read("canonical order (as written)", Encoding.UTF8.GetString(Program.Serialize(SampleResponse())));

            Read("out of order: token_type, access_token, scope, expires_in first, rest in order",
                open + "<token_type>bearer</token_type><access_token>a</access_token><scope>s</scope><expires_in>1799</expires_in>"
                + "<ip>127.0.0.1</ip><is_editor>true</is_editor><not_before_policy>0</not_before_policy>"
                + "<redirect_url i:nil=\"true\"/><refresh_expires_in>1209600</refresh_expires_in>"
                + "<refresh_token>r</refresh_token><session_state>x</session_state>" + close);

            Read("reverse order (all 11 members)",
                open + "<token_type>bearer</token_type><session_state>x</session_state><scope>s</scope>"
                + "<refresh_token>r</refresh_token><refresh_expires_in>1209600</refresh_expires_in>"
                + "<redirect_url i:nil=\"true\"/><not_before_policy>0</not_before_policy><is_editor>true</is_editor>"
                + "<ip>127.0.0.1</ip><expires_in>1799</expires_in><access_token>a</access_token>" + close);

            Read("declaration-order (C# source order, as a naive serializer might emit)",
                open + "<access_token>a</access_token><expires_in>1799</expires_in><redirect_url i:nil=\"true\"/>"
                + "<ip>127.0.0.1</ip><is_editor>true</is_editor><refresh_expires_in>1209600</refresh_expires_in>"
                + "<refresh_token>r</refresh_token><token_type>bearer</token_type><not_before_policy>0</not_before_policy>"
                + "<session_state>x</session_state><scope>s</scope>" + close);

            Read("members omitted (only access_token and token_type)",
                open + "<access_token>a</access_token><token_type>bearer</token_type>" + close);

            Read("unknown extra member between known ones",
                open + "<access_token>a</access_token><bogus>1</bogus><expires_in>1799</expires_in>" + close);

            Read("with XML declaration, indentation and xmlns:i before xmlns",
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<AccessTokenResponse xmlns:i=\"" + I + "\" xmlns=\"" + ns + "\">\n"
                + "  <access_token>a</access_token>\n  <expires_in>1799</expires_in>\n  <redirect_url i:nil=\"true\" />\n</AccessTokenResponse>\n");

            ReadBytes("with UTF-8 BOM", Concat(new byte[] { 0xEF, 0xBB, 0xBF },
                Encoding.UTF8.GetBytes(open + "<access_token>a</access_token>" + close)));

            Read("nil written with a different prefix (xsi:nil)",
                "<AccessTokenResponse xmlns=\"" + ns + "\" xmlns:xsi=\"" + I + "\"><access_token>a</access_token>"
                + "<expires_in xsi:nil=\"true\"/></AccessTokenResponse>");

            Read("empty element for int? (<expires_in/>)", open + "<access_token>a</access_token><expires_in/>" + close);
            Read("empty element for string (<ip/>)", open + "<ip/>" + close);
            Read("bool written as True (capitalised)", open + "<is_editor>True</is_editor>" + close);
            Read("bool written as 1", open + "<is_editor>1</is_editor>" + close);
            Read("int with surrounding whitespace", open + "<expires_in> 1799 </expires_in>" + close);
            Read("wrong namespace (empty)", "<AccessTokenResponse><access_token>a</access_token></AccessTokenResponse>");
            Read("wrong root name (TokenResponse)", "<TokenResponse xmlns=\"" + ns + "\"><access_token>a</access_token></TokenResponse>");
            Read("element with hyphen (not-before-policy) instead of not_before_policy",
                open + "<access_token>a</access_token><not-before-policy>0</not-before-policy>" + close);
        }

        static byte[] Concat(byte[] a, byte[] b)
        {
            var r = new byte[a.Length + b.Length];
            Buffer.BlockCopy(a, 0, r, 0, a.Length);
            Buffer.BlockCopy(b, 0, r, a.Length, b.Length);
            return r;
        }

        static void Read(string title, string xml) { ReadBytes(title, Encoding.UTF8.GetBytes(xml)); }

        static void ReadBytes(string title, byte[] xml)
        {
            Console.WriteLine("## read: " + title);
            Console.WriteLine("input: " + Encoding.UTF8.GetString(xml).Replace("\uFEFF", "[BOM EF BB BF]").Replace("\n", "\\n"));
            try
            {
                var t = (AccessTokenResponse)new DataContractSerializer(typeof(AccessTokenResponse)).ReadObject(new MemoryStream(xml));
                Console.WriteLine("result: access_token={0} expires_in={1} ip={2} is_editor={3} not_before_policy={4} redirect_url={5} refresh_expires_in={6} refresh_token={7} scope={8} session_state={9} token_type={10}",
                    Program.Show(t.access_token), Program.Show(t.expires_in), Program.Show(t.ip), Program.Show(t.is_editor),
                    Program.Show(t.not_before_policy), Program.Show(t.redirect_url), Program.Show(t.refresh_expires_in),
                    Program.Show(t.refresh_token), Program.Show(t.scope), Program.Show(t.session_state), Program.Show(t.token_type));
            }
            catch (Exception e)
            {
                Console.WriteLine("result: EXCEPTION " + Program.Flatten(e));
            }
            Console.WriteLine();
        }

        // ------------------------------------------------------------ headers

        static void ProbeHeaders()
        {
            byte[] body = Program.Serialize(new TokenRequest { grant_type = "client_credentials", client_id = "demo-confidential", client_secret = "demo-secret" });
            string xml = Encoding.UTF8.GetString(body);

            Probe("StreamContent + Content-Type set to \"application/xml; charset=utf-8\" + Accept: application/xml (what the client sends)",
                delegate { return Program.XmlContent(body); }, true, false);
            Probe("same, with HttpClient.DefaultRequestHeaders.ExpectContinue = true (--expect-continue)",
                delegate { return Program.XmlContent(body); }, true, true);
            Probe("new StringContent(xml, Encoding.UTF8, \"application/xml\")",
                delegate { return new StringContent(xml, Encoding.UTF8, "application/xml"); }, false, false);
            Probe("new StreamContent(ms) with no Content-Type set",
                delegate { return new StreamContent(new MemoryStream(body)); }, false, false);
        }

        // One request to a listener on 127.0.0.1:<ephemeral>; prints the request
        // head exactly as received and the body length. Answers 100 Continue if
        // asked, then 200 with an empty body, and closes.
        static void Probe(string title, Func<HttpContent> content, bool accept, bool expect)
        {
            Console.WriteLine("## wire: " + title);
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            string head = null;
            int bodyLen = -1;
            bool sawExpect = false;
            var server = Task.Run(() =>
            {
                using (TcpClient c = listener.AcceptTcpClient())
                {
                    c.ReceiveTimeout = 5000;
                    NetworkStream s = c.GetStream();
                    var buf = new List<byte>();
                    while (true)
                    {
                        int b = s.ReadByte();
                        if (b < 0) break;
                        buf.Add((byte)b);
                        int n = buf.Count;
                        if (n >= 4 && buf[n - 4] == 13 && buf[n - 3] == 10 && buf[n - 2] == 13 && buf[n - 1] == 10) break;
                    }
                    head = Encoding.ASCII.GetString(buf.ToArray());
                    int len = 0;
                    foreach (string line in head.Split(new[] { "\r\n" }, StringSplitOptions.None))
                    {
                        if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                            len = int.Parse(line.Substring(15).Trim());
                        if (line.StartsWith("Expect:", StringComparison.OrdinalIgnoreCase)
                            && line.IndexOf("100-continue", StringComparison.OrdinalIgnoreCase) >= 0)
                            sawExpect = true;
                    }
                    if (sawExpect)
                    {
                        byte[] cont = Encoding.ASCII.GetBytes("HTTP/1.1 100 Continue\r\n\r\n");
                        s.Write(cont, 0, cont.Length);
                    }
                    int got = 0;
                    var tmp = new byte[4096];
                    while (got < len)
                    {
                        int r = s.Read(tmp, 0, Math.Min(tmp.Length, len - got));
                        if (r <= 0) break;
                        got += r;
                    }
                    bodyLen = got;
                    byte[] ok = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    s.Write(ok, 0, ok.Length);
                }
            });
            try
            {
                using (var http = new HttpClient())
                {
                    http.Timeout = TimeSpan.FromSeconds(10);
                    if (expect) http.DefaultRequestHeaders.ExpectContinue = true;
                    var req = new HttpRequestMessage(HttpMethod.Post, "http://127.0.0.1:" + port + "/api/v1/auth/token");
                    req.Content = content();
                    if (accept) req.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/xml"));
                    Console.WriteLine("HttpContent.Headers.ContentType as seen by the program: "
                        + (req.Content.Headers.ContentType == null ? "null" : req.Content.Headers.ContentType.ToString()));
                    using (var resp = http.SendAsync(req).GetAwaiter().GetResult())
                    {
                        Console.WriteLine("client got: " + (int)resp.StatusCode);
                    }
                }
                server.Wait(5000);
            }
            catch (Exception e)
            {
                Console.WriteLine("probe failed: " + Program.Flatten(e));
            }
            finally
            {
                listener.Stop();
            }
            Console.WriteLine("request head as received (CRLF shown as \\r\\n):");
            Console.WriteLine(head == null ? "(none)" : head.Replace("\r\n", "\\r\\n\n"));
            Console.WriteLine("Expect: 100-continue sent: " + (sawExpect ? "yes" : "no") + "; body bytes received: " + bodyLen);
            Console.WriteLine();
        }
    }
}
