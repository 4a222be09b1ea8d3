using AkkaTcpTransfer.Benchmarks;
using System.Globalization;

namespace AkkaTcpTransfer.Cli.Tests;

/// <summary>The command-line contract, exercised on real processes over 127.0.0.1.</summary>
public sealed class ChatCliTests
{
    private static string P(int port) => port.ToString(CultureInfo.InvariantCulture);

    [Fact]
    public async Task Server_reports_the_real_port_and_clients_chat_in_every_direction_as_json()
    {
        await using var server = CliProcess.Start("server", "--port", "0", "--json");
        var port = await server.Listening();
        Assert.NotEqual(0, port);
        await using var alice = CliProcess.Client(server, port, "--name", "alice", "--json");
        var connected = await alice.WaitFor("connected");
        Assert.Equal("server", connected.GetProperty("server").GetString());
        Assert.Equal("alice", connected.GetProperty("name").GetString());
        // bob only after alice is in, so that alice sees him join (an earlier bob would be in her Welcome instead).
        await using var bob = CliProcess.Client(server, port, "--name", "bob", "--json");
        await bob.WaitFor("connected");
        await alice.WaitFor("peer-joined", e => e.GetProperty("name").GetString() == "bob");

        await alice.SendLine("hello from alice, 你好 🎉");
        var atBob = await bob.WaitFor("chat", e => e.GetProperty("text").GetString() == "hello from alice, 你好 🎉");
        Assert.Equal("alice", atBob.GetProperty("from").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, atBob.GetProperty("to").ValueKind);
        Assert.True(DateTimeOffset.TryParse(atBob.GetProperty("at").GetString(), CultureInfo.InvariantCulture, out _));
        await server.WaitFor("chat", e => e.GetProperty("text").GetString() == "hello from alice, 你好 🎉");

        await server.SendLine("/msg bob for bob only");
        var dm = await bob.WaitFor("chat", e => e.GetProperty("text").GetString() == "for bob only");
        Assert.Equal(("server", "bob"), (dm.GetProperty("from").GetString(), dm.GetProperty("to").GetString()));

        await bob.SendLine("/msg alice relayed to alice");
        await alice.WaitFor("chat", e => e.GetProperty("text").GetString() == "relayed to alice" && e.GetProperty("from").GetString() == "bob");

        await server.SendLine("the server speaks");
        await alice.WaitFor("chat", e => e.GetProperty("text").GetString() == "the server speaks");
        await bob.WaitFor("chat", e => e.GetProperty("text").GetString() == "the server speaks");

        await bob.SendLine("/who");
        var who = await bob.WaitFor("who");
        Assert.Equal(["server", "alice", "bob"], who.GetProperty("names").EnumerateArray().Select(n => n.GetString()));

        await bob.SendLine("/nonsense");
        Assert.Contains("unknown command /nonsense", (await bob.WaitFor("error")).GetProperty("message").GetString(), StringComparison.Ordinal);

        // A client stops at the end of its input, cleanly; the others see it leave.
        bob.CloseStdin();
        Assert.Equal(0, await bob.WaitForExit());
        await alice.WaitFor("peer-left", e => e.GetProperty("name").GetString() == "bob");
        await server.WaitFor("peer-left", e => e.GetProperty("name").GetString() == "bob");

        await server.SendLine("/quit");
        Assert.Equal(0, await server.WaitForExit());
        var lost = await alice.WaitFor("disconnected");
        Assert.Contains("server shutting down", lost.GetProperty("reason").GetString(), StringComparison.Ordinal);

        server.AssertStdoutIsOnlyJsonEvents();
        alice.AssertStdoutIsOnlyJsonEvents();
        bob.AssertStdoutIsOnlyJsonEvents();
    }

    [Fact]
    public async Task A_server_keeps_running_when_its_input_ends_and_stops_cleanly_on_sigterm_and_sigint()
    {
        foreach (var signal in new[] { CliProcess.SIGTERM, CliProcess.SIGINT })
        {
            await using var server = CliProcess.Start("server", "--port", "0", "--json");
            var port = await server.Listening();
            server.CloseStdin();
            // Still serving after its input ended:
            await using var alice = CliProcess.Client(server, port, "--name", "alice", "--json");
            await alice.WaitFor("connected");
            server.Signal(signal);
            var code = await server.WaitForExit();
            Assert.True(code == 0, $"signal {signal}: exit {code}\n{server.Stderr}");
            await alice.WaitFor("disconnected");
        }
    }

    [Fact]
    public async Task A_restarted_server_binds_the_same_port_at_once_and_its_clients_reconnect_by_themselves()
    {
        // The same server: the same state folder (its key, which alice pinned, and its database).
        var state = CliProcess.NewStateDir();
        await using var first = CliProcess.Start("server", "--port", "0", "--json", "--state-dir", state);
        var port = await first.Listening();
        await using var alice = CliProcess.Client(first, port, "--name", "alice", "--json",
            "--set", "client.reconnect.min-backoff=50ms", "--set", "client.reconnect.max-backoff=500ms");
        await alice.WaitFor("connected");
        var mark = alice.Mark();
        first.Signal(CliProcess.SIGTERM);
        Assert.Equal(0, await first.WaitForExit());
        await alice.WaitFor("disconnected", after: mark);

        await using var second = CliProcess.Start("server", "--port", P(port), "--json", "--state-dir", state);
        Assert.Equal(port, await second.Listening());
        await alice.WaitFor("connected", after: mark);
        await second.WaitFor("peer-joined", e => e.GetProperty("name").GetString() == "alice");
    }

    [Fact]
    public async Task Taken_name_and_wrong_token_exit_3_with_one_clear_line_and_tokens_stay_out_of_the_arguments()
    {
        var dir = Directory.CreateTempSubdirectory("att-cli-token-").FullName;
        try
        {
            var tokenFile = Path.Combine(dir, "token");
            await File.WriteAllTextAsync(tokenFile, "s3cret\n");
            // The token from a file (server, twin) or the environment (alice): nothing about it in the arguments, no note.
            await using var server = CliProcess.Start("server", "--port", "0", "--json", "--token-file", tokenFile);
            var port = await server.Listening();
            await using var alice = CliProcess.StartWith(new Dictionary<string, string> { ["AKKA_TCP_TRANSFER_TOKEN"] = "s3cret" },
                ["client", "--port", P(port), .. server.TrustArgs(), "--name", "alice", "--json"]);
            await alice.WaitFor("connected");

            await using var twin = CliProcess.Client(server, port, "--name", "alice", "--token-file", tokenFile, "--json");
            Assert.Equal(3, await twin.WaitForExit());
            Assert.Equal("akka-tcp-transfer: refused by the server: name 'alice' is already taken\n", twin.Stderr.Replace("\r", "", StringComparison.Ordinal));
            Assert.Contains("already taken", (await twin.WaitFor("error")).GetProperty("message").GetString(), StringComparison.Ordinal);

            // --token still works, with a note that ps shows it; the refusal is one line after it.
            await using var intruder = CliProcess.Client(server, port, "--name", "mallory", "--token", "guess");
            Assert.Equal(3, await intruder.WaitForExit());
            var lines = intruder.Stderr.Replace("\r", "", StringComparison.Ordinal).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(2, lines.Length);
            Assert.Contains("--token is visible to every user of this machine (ps)", lines[0], StringComparison.Ordinal);
            Assert.Equal("akka-tcp-transfer: refused by the server: wrong token", lines[1]);
            Assert.Empty(intruder.StdoutLines);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Cannot_connect_and_cannot_bind_exit_3_with_one_clear_line()
    {
        await using var server = CliProcess.Start("server", "--port", "0", "--json");
        var port = await server.Listening();

        await using var clash = CliProcess.Start("server", "--port", P(port));
        Assert.Equal(3, await clash.WaitForExit());
        var line = Assert.Single(clash.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal($"akka-tcp-transfer: cannot listen on 127.0.0.1:{port}: Address already in use", line.TrimEnd('\r'));

        await server.SendLine("/quit");
        await server.WaitForExit();
        await using var orphan = CliProcess.Client(server, port, "--name", "alice");
        Assert.Equal(3, await orphan.WaitForExit());
        var error = Assert.Single(orphan.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"akka-tcp-transfer: cannot connect to 127.0.0.1:{port}:", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("client", "--port", "5")]
    [InlineData("client", "--name", "x", "--port", "abc")]
    [InlineData("server", "--bogus")]
    [InlineData("server", "--set", "noequals")]
    [InlineData("server", "--set", "conection.idle-timeout=5s")]
    [InlineData("server", "--set", "port=99999")]
    [InlineData("client", "--name", "two words")]
    [InlineData("server", "--config", "/nonexistent/file.conf")]
    public async Task Bad_arguments_or_config_exit_2_with_one_line_and_no_stack_trace(params string[] args)
    {
        await using var cli = CliProcess.Start(args);
        Assert.Equal(2, await cli.WaitForExit());
        var lines = cli.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines);
        Assert.StartsWith("akka-tcp-transfer: ", line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", cli.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("'sever' is not a command; did you mean 'server'?", "sever")]
    [InlineData("'clinet' is not a command; did you mean 'client'?", "clinet")]
    [InlineData("'--nmae' is not an option of client; did you mean '--name'?", "client", "--nmae", "x")]
    [InlineData("'--prot' is not an option of server; did you mean '--port'?", "server", "--prot", "5")]
    [InlineData("'frobnicate' is not a command; the commands are server, client, demo, cluster-key", "frobnicate")]
    [InlineData("'--bogus' is not an option of demo; its options are --help", "demo", "--bogus")]
    [InlineData("'--fingerprint' is not an option of server, only of client", "server", "--fingerprint", "ab")]
    public async Task A_mistyped_command_or_option_is_named_with_the_nearest_valid_one(string message, params string[] args)
    {
        await using var cli = CliProcess.Start(args);
        Assert.Equal(2, await cli.WaitForExit());
        var line = Assert.Single(cli.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal($"akka-tcp-transfer: {message} (see --help)", line.TrimEnd('\r'));
    }

    [Fact]
    public async Task Mistakes_are_said_in_a_persons_words_and_a_loopback_server_says_who_can_reach_it()
    {
        await using var badPort = CliProcess.Start("client", "--name", "x", "--port", "abc");
        Assert.Equal(2, await badPort.WaitForExit());
        Assert.Equal("akka-tcp-transfer: --port: 'abc' is not a port number (0 to 65535) (see --help)", badPort.Stderr.Trim());

        await using var unwritable = CliProcess.Start("server", "--port", "0", "--downloads", "/proc/not-a-folder-you-can-write");
        Assert.Equal(2, await unwritable.WaitForExit());
        Assert.Contains("the downloads folder /proc/not-a-folder-you-can-write cannot be written", unwritable.Stderr, StringComparison.Ordinal);

        await using var server = CliProcess.Start("server", "--port", "0", "--plain");
        await server.WaitForLine(l => l.Contains("only this machine can connect; for clients on other machines start with --host 0.0.0.0", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Help_shows_examples_defaults_and_the_commands_used_while_running()
    {
        await using var help = CliProcess.Start("client", "--help");
        Assert.Equal(0, await help.WaitForExit());
        var text = string.Join("\n", help.StdoutLines);
        Assert.Contains("Examples:", text, StringComparison.Ordinal);
        Assert.Contains("(default 7420)", text, StringComparison.Ordinal);
        Assert.Contains("/send [NAME] PATH...", text, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Config_files_layer_and_set_overrides_them()
    {
        var dir = Directory.CreateTempSubdirectory("att-cli-").FullName;
        try
        {
            var file = Path.Combine(dir, "my.conf");
            await File.WriteAllTextAsync(file, "akka-tcp-transfer { name = \"hub\"\n port = 0 }");
            await using var server = CliProcess.Start("server", "--config", file, "--json", "--set", "name=central");
            var port = await server.Listening();
            await using var alice = CliProcess.Client(server, port, "--name", "alice", "--json");
            Assert.Equal("central", (await alice.WaitFor("connected")).GetProperty("server").GetString());
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task Human_output_has_time_stamps_and_neutralises_escape_sequences()
    {
        await using var server = CliProcess.Start("server", "--port", "0", "--json");
        var port = await server.Listening();
        await using var alice = CliProcess.Client(server, port, "--name", "alice");
        await using var mallory = CliProcess.Client(server, port, "--name", "mallory", "--json");
        await mallory.WaitFor("connected");
        await server.WaitFor("peer-joined", e => e.GetProperty("name").GetString() == "alice");
        await mallory.SendLine("evil \u001b[2J\u001b[31m text");
        await mallory.SendLine("/quit");
        await mallory.WaitForExit();
        await server.WaitFor("peer-left", e => e.GetProperty("name").GetString() == "mallory");
        alice.CloseStdin();
        Assert.Equal(0, await alice.WaitForExit());
        var chat = Assert.Single(alice.StdoutLines, l => l.Contains("<mallory>", StringComparison.Ordinal));
        Assert.Matches(@"^\[\d\d:\d\d:\d\d\] <mallory> evil ", chat);
        Assert.DoesNotContain('\u001b', chat);
    }

    [Fact]
    public async Task Demo_exchanges_chat_in_every_direction_and_exits_0()
    {
        // The demo writes and sends 256 MiB and a 91 MiB folder: on two cores shared with the other tests that took
        // longer than the 20 s a process gets by default (once, in CI). A bound, not a measure.
        await using var demo = JsonEventProcess.Start(CliProcess.Assembly, null, TimeSpan.FromSeconds(90), "demo");
        Assert.Equal(0, await demo.WaitForExit());
        var output = string.Join("\n", demo.StdoutLines);
        Assert.Contains("[bob]    ", output, StringComparison.Ordinal);
        Assert.Contains("<bob -> alice> psst, alice", output, StringComparison.Ordinal);
        Assert.Contains("demo: every step arrived", output, StringComparison.Ordinal);
        // Every transfer's end is printed at both ends, the folder's included: a progress line (at 0 % or anywhere) is
        // never the last word on a transfer that finished.
        foreach (var (node, words) in new[] { ("[bob]    ", "album/ received from server: 4 files"), ("[server] ", "album/ sent to bob: 4 files") })
        {
            var lastAboutAlbum = demo.StdoutLines.Last(l => l.StartsWith(node, StringComparison.Ordinal) && l.Contains("album/", StringComparison.Ordinal));
            Assert.Contains(words, lastAboutAlbum, StringComparison.Ordinal);
        }
        foreach (var node in new[] { "[alice]  ", "[server] " })
        {
            var lastAboutReport = demo.StdoutLines.Last(l => l.StartsWith(node, StringComparison.Ordinal) && l.Contains("report.bin", StringComparison.Ordinal));
            Assert.Contains("done: report.bin", lastAboutReport, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_paste_of_300_lines_into_a_json_client_arrives_whole_and_in_order_and_each_is_reported_sent_once()
    {
        await using var server = CliProcess.Start("server", "--port", "0", "--json");
        var port = await server.Listening();
        await using var bob = CliProcess.Client(server, port, "--name", "bob", "--json");
        await bob.WaitFor("connected");
        await using var alice = CliProcess.Client(server, port, "--name", "alice", "--json");
        await alice.WaitFor("connected");
        // Default limits: 20 lines a second after a burst of 200. The client paces itself; the last 100 take 5 s.
        for (var i = 1; i <= 300; i++) await alice.SendLine($"line {i:000}");
        alice.CloseStdin();
        // At the end of its input a client waits until every line has been answered, then exits 0.
        Assert.Equal(0, await alice.WaitForExit());
        var events = alice.Events();
        var sent = events.Where(e => JsonEventProcess.Is(e, "chat-sent")).ToList();
        Assert.Equal(Enumerable.Range(1, 300).Select(i => $"line {i:000}"), sent.Select(e => e.GetProperty("text").GetString()));
        Assert.Equal(Enumerable.Range(1, 300).Select(i => (long)i), sent.Select(e => e.GetProperty("line").GetInt64()));
        Assert.DoesNotContain(events, e => JsonEventProcess.Is(e, "chat-not-sent") || JsonEventProcess.Is(e, "error"));
        // The queue was reported while it drained, and reported empty at the end.
        var queue = events.Where(e => JsonEventProcess.Is(e, "chat-queue")).Select(e => e.GetProperty("waiting").GetInt32()).ToList();
        Assert.True(queue.Count >= 2 && queue[0] > 0 && queue[^1] == 0, string.Join(",", queue));
        await bob.WaitFor("chat", e => e.GetProperty("text").GetString() == "line 300");
        Assert.Equal(Enumerable.Range(1, 300).Select(i => $"line {i:000}"),
            bob.Events().Where(e => JsonEventProcess.Is(e, "chat")).Select(e => e.GetProperty("text").GetString()));
        alice.AssertStdoutIsOnlyJsonEvents();
    }

    [Fact]
    public async Task Ctrl_c_with_chat_lines_still_queued_names_how_many_were_not_sent_and_exits_4()
    {
        await using var server = CliProcess.Start("server", "--port", "0", "--json", "--set", "limits.chat-per-second=1", "--set", "limits.chat-burst=1");
        var port = await server.Listening();
        await using var alice = CliProcess.Client(server, port, "--name", "alice", "--json");
        await alice.WaitFor("connected");
        for (var i = 1; i <= 5; i++) await alice.SendLine($"line {i}");
        await alice.WaitFor("chat-queue", e => e.GetProperty("waiting").GetInt32() > 0);
        alice.Signal(CliProcess.SIGINT);
        Assert.Equal(4, await alice.WaitForExit());
        Assert.Matches(@"stopped with [1-5] chat line\(s\) not sent", alice.Stderr);
        // Each line is reported once: sent, or not sent and why.
        var events = alice.Events();
        var sent = events.Where(e => JsonEventProcess.Is(e, "chat-sent")).Select(e => e.GetProperty("line").GetInt64()).ToList();
        var notSent = events.Where(e => JsonEventProcess.Is(e, "chat-not-sent")).ToList();
        Assert.NotEmpty(notSent);
        Assert.Equal(Enumerable.Range(1, 5).Select(i => (long)i), sent.Concat(notSent.Select(e => e.GetProperty("line").GetInt64())).Order());
        Assert.All(notSent, e => Assert.Contains("client stopped", e.GetProperty("reason").GetString(), StringComparison.Ordinal));
    }
}
