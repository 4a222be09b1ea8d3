using System.CommandLine;
using System.CommandLine.Invocation;
using System.Text;
using AkkaTcpTransfer.Presentation;
using AkkaTcpTransfer.Security;
using AkkaTcpTransfer.Settings;

namespace AkkaTcpTransfer.Cli;

/// <summary>akka-tcp-transfer: server | client | demo. Arguments become configuration layers; everything else is
/// the library's.</summary>
internal static class Program
{
    /// <summary>The environment variable a token may come from (kept out of the process's arguments).</summary>
    public const string TokenVariable = "AKKA_TCP_TRANSFER_TOKEN";

    public static async Task<int> Main(string[] args)
    {
        Console.OutputEncoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
        Console.InputEncoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);

        var host = new Option<string>("--host") { Description = "server: address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every network); client: the server's address (default 127.0.0.1)" };
        var clientHosts = new Option<string[]>("--host") { Description = "the server's address, HOST or HOST:PORT (default 127.0.0.1); repeat it for the nodes of a server cluster, tried in turn" };
        var port = new Option<string>("--port") { Description = "server: port to listen on (0 = any free port); client: the server's port (default 7420)" };
        MustBePort(port);
        var name = new Option<string>("--name") { Description = "this node's name in chat and transfers" };
        var clientName = new Option<string>("--name") { Description = "this client's name in chat and transfers", Required = true };
        var token = new Option<string>("--token") { Description = "shared secret the server requires / the client presents (visible in ps: prefer --token-file or $" + TokenVariable + ")" };
        var tokenFile = new Option<string>("--token-file") { Description = "read the shared secret from this file (its first line)" };
        var insecure = new Option<bool>("--insecure") { Description = "no TLS: chat, files and the token in the clear (a trusted network only; both ends must agree)" };
        var certificate = new Option<string>("--cert") { Description = "server: a CA-issued certificate (PEM, leaf first) instead of the server's own identity; needs --key" };
        var key = new Option<string>("--key") { Description = "server: the private key (PEM) of --cert" };
        var fingerprint = new Option<string>("--fingerprint") { Description = "client: the server's key fingerprint (SHA-256, as the server prints it at start); pinned for next time" };
        var trustFirst = new Option<bool>("--trust-on-first-use") { Description = "client: trust an unknown server's key on first contact and pin it (a changed key is still refused)" };
        var caFile = new Option<string>("--ca-file") { Description = "client: trust the CA certificates in this PEM file instead of the system's" };
        var yes = new Option<bool>("--yes") { Description = "client: accept every file offered without asking (for scripts; a person is asked by default)" };
        var downloads = new Option<string>("--downloads") { Description = "folder where received files land (default ./downloads)" };
        var stateDir = new Option<string>("--state-dir") { Description = "folder for what is kept between runs (resume keys, identity); default: the per-user data folder" };
        var configFiles = new Option<string[]>("--config") { Description = "HOCON file layered over the defaults (repeatable; later files win)" };
        var sets = new Option<string[]>("--set") { Description = "override one setting: key=value, e.g. connection.idle-timeout=60s (repeatable)" };
        var clusterPort = new Option<string>("--cluster-port") { Description = "server: join several servers into one (Akka.Cluster); this node's cluster port (TLS with the cluster's key: --cluster-cert, --cluster-key)" };
        MustBePort(clusterPort);
        var webPort = new Option<string>("--web-port") { Description = "server: also serve the browser client on this port (0 = any free port): HTTPS with the server's certificate, HTTP with --insecure" };
        MustBePort(webPort);
        var clusterHost = new Option<string>("--cluster-host") { Description = "server: the address other nodes reach this node's cluster port at (default: --host)" };
        var clusterCert = new Option<string>("--cluster-cert") { Description = "server: the cluster's certificate (PEM), the same on every node (akka-tcp-transfer cluster-key makes one); needs --cluster-key" };
        var clusterKey = new Option<string>("--cluster-key") { Description = "server: the private key (PEM) of --cluster-cert" };
        var clusterCa = new Option<string>("--cluster-ca") { Description = "server: CA certificate(s) (PEM) that issue every node's --cluster-cert; a peer is then accepted when its certificate chains to it, instead of when it holds the same key" };
        var seeds = new Option<string[]>("--seed") { Description = "server: HOST:PORT of a node's cluster port to join (repeatable; none: found a new cluster)" };
        var postgres = new Option<string>("--postgres") { Description = "server: keep rooms, history and names in this PostgreSQL database (an Npgsql connection string; the password may come from $PGPASSWORD or ~/.pgpass instead) rather than in SQLite in --state-dir; the nodes of a cluster share it" };
        var json = new Option<bool>("--json") { Description = "write events to stdout as JSON lines; logs go to stderr" };
        var plain = new Option<bool>("--plain") { Description = "print events as lines instead of the full-screen UI (the default at a terminal)" };

        var server = new Command("server", $$"""
            run a server: listen for clients, chat, send and receive files

            Examples:
              akka-tcp-transfer server                                   this machine only, port 7420, TLS
              akka-tcp-transfer server --host 0.0.0.0 --token-file tok   every network, with a shared secret
              akka-tcp-transfer server --cert fullchain.pem --key privkey.pem --host 0.0.0.0
              akka-tcp-transfer server --cluster-port 7421 --seed 10.0.0.1:7421 --cluster-cert c.pem --cluster-key k.pem
                                                                         one of several nodes acting as one
              akka-tcp-transfer server --postgres "Host=db;Database=chat;Username=chat"   history in PostgreSQL

            At a terminal it runs full screen; --plain prints lines, --json prints events for programs.
            Commands while it runs:
            {{InputCommand.Usage}}
            """)
            { host, port, name, token, tokenFile, downloads, stateDir, insecure, certificate, key, webPort, clusterPort, clusterHost, seeds, clusterCert, clusterKey, clusterCa, postgres, configFiles, sets, json, plain };
        var client = new Command("client", $$"""
            run a client: connect to a server, chat, send and receive files

            Examples:
              akka-tcp-transfer client --name alice --fingerprint 3f4c...e1         trust the key the server printed
              akka-tcp-transfer client --host files.example.org --name alice        a server with a CA certificate
              akka-tcp-transfer client --name bot --yes --json < commands.txt       a script: accept offers, JSON out
              akka-tcp-transfer client --name alice --host n1:7420 --host n2:7420   nodes of one server cluster

            At a terminal it runs full screen (offers are asked about; F2 accepts, F3 rejects); --plain prints lines.
            Commands while it runs:
            {{InputCommand.Usage}}
            """)
            { clientHosts, port, clientName, token, tokenFile, downloads, stateDir, insecure, fingerprint, trustFirst, caFile, yes, configFiles, sets, json, plain };
        var demo = new Command("demo", "run a server and two clients in this process and show chat in every direction");
        var keyOut = new Option<string>("--out") { Description = "the folder to write cluster-certificate.pem and cluster-key.pem to (made if missing)", Required = true };
        var clusterKeyCommand = new Command("cluster-key", """
            make a key for a cluster of servers: a certificate and its private key, to copy to every node

            Example:
              akka-tcp-transfer cluster-key --out cluster/            then, on every node:
              akka-tcp-transfer server --cluster-port 7421 --cluster-cert cluster/cluster-certificate.pem --cluster-key cluster/cluster-key.pem ...
            Nodes speak TLS 1.3 to each other with it and accept only peers that hold the same key.
            """) { keyOut };
        var root = new RootCommand("akka-tcp-transfer: actor-based TCP chat and file transfer on Akka.NET") { server, client, demo, clusterKeyCommand };

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // A mistyped command or option is named with the nearest valid one; other mistakes in the parser's words.
            var message = ArgumentMistakes.Describe(parsed) ?? $"{parsed.Errors[0].Message} (see --help)";
            await Console.Error.WriteLineAsync($"akka-tcp-transfer: {message}");
            return ExitCodes.BadArguments;
        }

        Task<int> RunNode(NodeRole role, System.CommandLine.ParseResult r, Option<string> nameOption)
        {
            var overrides = new List<(string, string)>();
            void Add<T>(Option<T> option, string key)
            {
                if (r.GetResult(option) is not null && r.GetValue(option) is { } value)
                    overrides.Add((key, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)!));
            }
            if (role == NodeRole.Server) Add(host, "host");
            Add(port, "port");
            if (role == NodeRole.Client && r.GetValue(clientHosts) is { Length: > 0 } hosts)
            {
                // The first is "the server" (its port: from HOST:PORT, else --port); the others are its other nodes.
                try
                {
                    var first = NodeSettings.ParseHostPort(hosts[0], 0, "--host");
                    overrides.Add(("host", first.Host));
                    if (first.Port != 0) overrides.Add(("port", first.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                    foreach (var other in hosts.Skip(1)) NodeSettings.ParseHostPort(other, 0, "--host");
                }
                catch (ConfigException e)
                {
                    Console.Error.WriteLine($"akka-tcp-transfer: {e.Message}");
                    return Task.FromResult(ExitCodes.BadArguments);
                }
                if (hosts.Length > 1) overrides.Add(("client.servers", string.Join(",", hosts.Skip(1))));
            }
            Add(nameOption, "name");
            Add(downloads, "downloads");
            Add(stateDir, "state-dir");
            if (role == NodeRole.Server)
            {
                Add(certificate, "tls.certificate");
                Add(key, "tls.key");
                if (r.GetResult(webPort) is not null) overrides.Add(("web.enabled", "on"));
                Add(webPort, "web.port");
                if (r.GetResult(clusterPort) is not null) overrides.Add(("cluster.enabled", "on"));
                Add(clusterPort, "cluster.port");
                Add(clusterHost, "cluster.host");
                Add(clusterCert, "cluster.certificate");
                Add(clusterKey, "cluster.key");
                Add(clusterCa, "cluster.ca");
                if (r.GetResult(postgres) is not null) overrides.Add(("store.kind", "postgres"));
                Add(postgres, "store.postgres");
                if (r.GetValue(seeds) is { Length: > 0 } seedList)
                {
                    if (r.GetResult(clusterPort) is null)
                    {
                        Console.Error.WriteLine("akka-tcp-transfer: --seed needs --cluster-port (this node's own cluster port)");
                        return Task.FromResult(ExitCodes.BadArguments);
                    }
                    overrides.Add(("cluster.seeds", string.Join(",", seedList)));
                }
            }
            else
            {
                Add(fingerprint, "tls.fingerprint");
                Add(caFile, "tls.ca-certificates");
                if (r.GetValue(trustFirst)) overrides.Add(("tls.trust-on-first-use", "on"));
                if (r.GetValue(yes)) overrides.Add(("transfer.auto-accept", "on"));
            }
            if (r.GetValue(insecure)) overrides.Add(("tls.enabled", "off"));
            // The token: --token, else --token-file, else the environment; a token in the arguments shows in ps.
            if (r.GetValue(token) is { } tokenText)
            {
                Console.Error.WriteLine($"akka-tcp-transfer: note: --token is visible to every user of this machine (ps); prefer --token-file or ${TokenVariable}");
                overrides.Add(("token", tokenText));
            }
            else if (r.GetValue(tokenFile) is { } file)
            {
                try
                {
                    overrides.Add(("token", File.ReadLines(file).FirstOrDefault()?.Trim() ?? ""));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    Console.Error.WriteLine($"akka-tcp-transfer: cannot read --token-file {file}: {e.Message}");
                    return Task.FromResult(ExitCodes.BadArguments);
                }
            }
            else if (Environment.GetEnvironmentVariable(TokenVariable) is { Length: > 0 } fromEnvironment)
            {
                overrides.Add(("token", fromEnvironment));
            }
            foreach (var set in r.GetValue(sets) ?? [])
            {
                var eq = set.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    Console.Error.WriteLine($"akka-tcp-transfer: --set expects key=value, got '{set}'");
                    return Task.FromResult(ExitCodes.BadArguments);
                }
                overrides.Add((set[..eq].Trim(), set[(eq + 1)..]));
            }
            // The full-screen UI for a person at a terminal; lines for a pipe or with --plain; JSON for scripts.
            var mode = r.GetValue(json) ? OutputMode.Json
                : r.GetValue(plain) || Console.IsInputRedirected || Console.IsOutputRedirected ? OutputMode.Lines
                : OutputMode.Screen;
            var runner = new NodeRunner(role, mode, Console.In, Console.Out, Console.Error);
            return runner.RunAsync(r.GetValue(configFiles) ?? [], overrides);
        }

        server.SetAction((r, _) => RunNode(NodeRole.Server, r, name));
        client.SetAction((r, _) => RunNode(NodeRole.Client, r, clientName));
        demo.SetAction((_, _) => Demo.RunAsync(Console.Out, Console.Error));
        clusterKeyCommand.SetAction((r, _) =>
        {
            var folder = r.GetValue(keyOut)!;
            try
            {
                using var made = ClusterIdentity.Create(Path.GetFullPath(folder));
                Console.Out.WriteLine($"cluster key written to {Path.GetDirectoryName(made.CertificateFile)}: {ClusterIdentity.CertificateFileName} and {ClusterIdentity.KeyFileName} (fingerprint {made.Fingerprint})");
                Console.Out.WriteLine("copy both files to every node of the cluster; the key file is secret (readable by you only)");
                return Task.FromResult(ExitCodes.Ok);
            }
            catch (IdentityException e)
            {
                Console.Error.WriteLine($"akka-tcp-transfer: {e.Message}");
                return Task.FromResult(ExitCodes.BadArguments);
            }
        });
        // Signals are ours (NodeRunner stops the node cleanly): System.CommandLine's own SIGINT/SIGTERM handler would
        // race ours and, once its token source is disposed, crash the process with SIGABRT.
        return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
    }

    /// <summary>An option whose value must be a port number, 0 to 65535, or the parse fails naming it.</summary>
    private static void MustBePort(Option<string> option) => option.Validators.Add(result =>
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number) || number > 65535)
            result.AddError($"{option.Name}: '{text}' is not a port number (0 to 65535)");
    });
}
