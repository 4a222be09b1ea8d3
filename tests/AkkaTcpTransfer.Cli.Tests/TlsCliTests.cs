using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace AkkaTcpTransfer.Cli.Tests;

/// <summary>TLS as a user of the program meets it: the fingerprint the server prints and how to check it with openssl,
/// trust on first use and the prompt at a terminal, a changed key, and --insecure on both ends.</summary>
public sealed class TlsCliTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("att-cli-tls-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Dir(string name) => Directory.CreateDirectory(Path.Combine(_root, name)).FullName;

    private static string P(int port) => port.ToString(CultureInfo.InvariantCulture);

    private static string? OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

    /// <summary>Runs <paramref name="command"/> with sh; returns its stdout and stderr together.</summary>
    private static async Task<string> Shell(string command, string? input = null)
    {
        var info = new ProcessStartInfo("/bin/sh") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(command);
        using var process = Process.Start(info)!;
        if (input is not null) await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return await stdout + await stderr;
    }

    [SkippableFact]
    public async Task Openssl_sees_tls_13_and_alpn_akt1_and_both_documented_one_liners_print_the_servers_fingerprint()
    {
        Skip.If(OnPath("openssl") is null, "openssl is not installed");
        await using var server = CliProcess.Start("server", "--port", "0", "--json", "--state-dir", Dir("state"));
        var port = await server.Listening();
        var listening = await server.WaitFor("listening");
        var fingerprint = server.Fingerprint!;
        Assert.Matches("^[0-9a-f]{64}$", fingerprint);

        var brief = await Shell($"openssl s_client -connect 127.0.0.1:{P(port)} -tls1_3 -alpn akt/1 -brief </dev/null");
        Assert.Contains("Protocol version: TLSv1.3", brief, StringComparison.Ordinal);
        var session = await Shell($"openssl s_client -connect 127.0.0.1:{P(port)} -tls1_3 -alpn akt/1 </dev/null");
        Assert.Contains("ALPN protocol: akt/1", session, StringComparison.Ordinal);

        // docs/OPERATIONS.md and PROTOCOL.md: from the certificate file, and from the running server.
        var fromFile = await Shell($"openssl x509 -in '{listening.GetProperty("certificate").GetString()}' -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256");
        Assert.EndsWith(fingerprint, fromFile.Trim(), StringComparison.Ordinal);
        var fromServer = await Shell($"openssl s_client -connect 127.0.0.1:{P(port)} -tls1_3 -alpn akt/1 </dev/null 2>/dev/null | openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256");
        Assert.EndsWith(fingerprint, fromServer.Trim(), StringComparison.Ordinal);

        // A TLS 1.2 client is refused by the handshake.
        var old = await Shell($"openssl s_client -connect 127.0.0.1:{P(port)} -tls1_2 -brief </dev/null");
        Assert.Matches("alert protocol version|no protocols available|unsupported protocol", old);
    }

    [Fact]
    public async Task A_person_sees_the_fingerprint_and_how_to_check_it_when_the_server_starts()
    {
        await using var server = CliProcess.Start("server", "--port", "0", "--state-dir", Dir("state"));
        var line = await FirstStdoutLine(server, "listening on");
        Assert.Matches(@"listening on 127\.0\.0\.1:\d+ with TLS; key fingerprint [0-9a-f]{64}", line);
        var check = await FirstStdoutLine(server, "(check: openssl x509 -in");
        Assert.Contains("server-certificate.pem", check, StringComparison.Ordinal);
    }

    private static Task<string> FirstStdoutLine(Benchmarks.JsonEventProcess process, string containing) =>
        process.WaitForLine(l => l.Contains(containing, StringComparison.Ordinal));

    [Fact]
    public async Task First_use_pins_the_key_a_later_run_needs_nothing_and_a_changed_key_exits_3_with_one_line_naming_both_and_the_file()
    {
        var clientState = Dir("alice-state");
        var port = 0;
        string first;
        await using (var server = CliProcess.Start("server", "--port", "0", "--json", "--state-dir", Dir("server-a")))
        {
            port = await server.Listening();
            first = server.Fingerprint!;
            // Without any trust argument, a script is refused: the server is unknown.
            await using (var unknown = CliProcess.Start("client", "--port", P(port), "--name", "alice", "--state-dir", clientState))
            {
                Assert.Equal(3, await unknown.WaitForExit());
                var line = Assert.Single(unknown.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
                Assert.Contains($"is not known: its key fingerprint is {first}", line, StringComparison.Ordinal);
                Assert.Contains("--fingerprint", line, StringComparison.Ordinal);
            }
            await using (var tofu = CliProcess.Start("client", "--port", P(port), "--name", "alice", "--state-dir", clientState, "--trust-on-first-use", "--json"))
            {
                Assert.Equal(first, (await tofu.WaitFor("server-pinned")).GetProperty("fingerprint").GetString());
                Assert.Equal("first-use", (await tofu.WaitFor("connected")).GetProperty("trust").GetString());
                tofu.CloseStdin();
                Assert.Equal(0, await tofu.WaitForExit());
            }
            await using (var again = CliProcess.Start("client", "--port", P(port), "--name", "alice", "--state-dir", clientState, "--json"))
            {
                Assert.Equal("known-server", (await again.WaitFor("connected")).GetProperty("trust").GetString());
                again.CloseStdin();
                Assert.Equal(0, await again.WaitForExit());
            }
            server.Signal(CliProcess.SIGTERM);
            Assert.Equal(0, await server.WaitForExit());
        }

        // Another key on the same port: refused, even with --trust-on-first-use, and the pin stays.
        await using var other = CliProcess.Start("server", "--port", P(port), "--json", "--state-dir", Dir("server-b"));
        Assert.Equal(port, await other.Listening());
        var known = Path.Combine(clientState, "known_servers");
        var before = await File.ReadAllTextAsync(known);
        await using var refused = CliProcess.Start("client", "--port", P(port), "--name", "alice", "--state-dir", clientState, "--trust-on-first-use");
        Assert.Equal(3, await refused.WaitForExit());
        var error = Assert.Single(refused.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(first, error, StringComparison.Ordinal);
        Assert.Contains(other.Fingerprint!, error, StringComparison.Ordinal);
        Assert.Contains(known, error, StringComparison.Ordinal);
        Assert.Equal(before, await File.ReadAllTextAsync(known));
    }

    [SkippableFact]
    public async Task At_a_terminal_an_unknown_server_is_shown_and_trusted_on_yes()
    {
        Skip.If(OnPath("script") is null, "script (util-linux) is not installed: it gives the client a terminal");
        await using var server = CliProcess.Start("server", "--port", "0", "--json", "--state-dir", Dir("server"));
        var port = await server.Listening();
        var state = Dir("alice-state");
        var client = $"dotnet '{CliProcess.Assembly}' client --port {P(port)} --name alice --state-dir '{state}' --plain";
        // script gives the client a terminal; "y" answers the question once it is asked, then /quit once the client is in.
        var info = new ProcessStartInfo("/bin/sh") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add($"XDG_DATA_HOME='{_root}' script -qec \"{client}\" /dev/null");
        using var process = Process.Start(info)!;
        var terminal = new TerminalText(process.StandardOutput);
        await terminal.WaitFor("[y/N]");
        await process.StandardInput.WriteLineAsync("y");
        await process.StandardInput.FlushAsync();
        await terminal.WaitFor("connected to server as alice");
        await process.StandardInput.WriteLineAsync("/quit");
        process.StandardInput.Close();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var session = await terminal.WaitForEnd();
        Assert.Contains($"The server at 127.0.0.1:{P(port)} is not known. Its key fingerprint is", session, StringComparison.Ordinal);
        Assert.Contains(server.Fingerprint!, session, StringComparison.Ordinal);
        Assert.Matches(new Regex("connected to server as alice with TLS"), session);
        Assert.Contains($"127.0.0.1:{P(port)} {server.Fingerprint}", await File.ReadAllTextAsync(Path.Combine(state, "known_servers")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Insecure_on_both_ends_chats_in_the_clear_and_says_so_while_one_end_alone_is_refused_with_one_line()
    {
        await using var plain = CliProcess.Start("server", "--port", "0", "--json", "--insecure");
        var port = await plain.Listening();
        Assert.False((await plain.WaitFor("listening")).GetProperty("tls").GetBoolean());
        await using var alice = CliProcess.Start("client", "--port", P(port), "--name", "alice", "--insecure", "--json");
        Assert.False((await alice.WaitFor("connected")).GetProperty("tls").GetBoolean());
        await alice.SendLine("in the clear");
        await plain.WaitFor("chat", e => e.GetProperty("text").GetString() == "in the clear");

        await using var tlsClient = CliProcess.Start("client", "--port", P(port), "--name", "bob", "--fingerprint", new string('b', 64));
        Assert.Equal(3, await tlsClient.WaitForExit());
        Assert.Equal("akka-tcp-transfer: refused by the server: this server does not use TLS (it was started with --insecure): connect with --insecure, or ask for a server with TLS",
            Assert.Single(tlsClient.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));

        await using var tls = CliProcess.Start("server", "--port", "0", "--json", "--state-dir", Dir("tls-state"));
        var tlsPort = await tls.Listening();
        await using var plainClient = CliProcess.Start("client", "--port", P(tlsPort), "--name", "carol", "--insecure");
        Assert.Equal(3, await plainClient.WaitForExit());
        Assert.Equal("akka-tcp-transfer: refused by the server: this server requires TLS: connect with a TLS client (akka-tcp-transfer without --insecure)",
            Assert.Single(plainClient.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }

    /// <summary>What a program writes to its terminal, as it comes (a prompt need not end its line): awaited by text.</summary>
    private sealed class TerminalText
    {
        private readonly StringBuilder _text = new();
        private readonly List<(string Text, TaskCompletionSource Done)> _waiters = [];
        private readonly Task _reading;

        public TerminalText(StreamReader output) => _reading = Read(output);

        private async Task Read(StreamReader output)
        {
            var buffer = new char[4096];
            int n;
            while ((n = await output.ReadAsync(buffer)) > 0)
            {
                lock (_text)
                {
                    _text.Append(buffer, 0, n);
                    var all = _text.ToString();
                    foreach (var w in _waiters.Where(w => all.Contains(w.Text, StringComparison.Ordinal)).ToList())
                    {
                        w.Done.TrySetResult();
                        _waiters.Remove(w);
                    }
                }
            }
        }

        public async Task WaitFor(string text)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_text)
            {
                if (_text.ToString().Contains(text, StringComparison.Ordinal)) return;
                _waiters.Add((text, done));
            }
            if (await Task.WhenAny(done.Task, Task.Delay(TimeSpan.FromSeconds(30))) != done.Task)
                throw new TimeoutException($"the terminal never showed '{text}':\n{Text}");
        }

        public async Task<string> WaitForEnd()
        {
            await _reading.WaitAsync(TimeSpan.FromSeconds(30));
            return Text;
        }

        private string Text
        {
            get
            {
                lock (_text) return _text.ToString();
            }
        }
    }
}
