using Akka.Actor;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Presentation;
using AkkaTcpTransfer.Settings;

namespace AkkaTcpTransfer.Cli;

/// <summary>`akka-tcp-transfer demo`: one process, three actor systems on loopback (a server, alice and bob), chat
/// in every direction and files both ways with progress, each step awaited on the receiver's EventStream and every
/// file checked against its source's SHA-256. Exits 0 when every step arrived. Works in a temporary folder that it
/// removes at the end.</summary>
internal static class Demo
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan TransferTimeout = TimeSpan.FromSeconds(120);

    public static async Task<int> RunAsync(TextWriter output, TextWriter error)
    {
        (string, string)[] quiet = [("akka.loglevel", "WARNING"), ("akka.stdout-loglevel", "WARNING")];
        var work = Directory.CreateTempSubdirectory("akka-tcp-transfer-demo-").FullName;
        string Downloads(string who) => Path.Combine(work, who, "downloads");
        // Each node keeps its state (the server's TLS identity, the clients' pins and resume keys) in the work folder.
        (string, string) State(string who) => ("state-dir", Path.Combine(work, who, "state"));
        ServerNode? server = null;
        var consoles = new List<IActorRef>();
        var clients = new List<ClientNode>();
        try
        {
            server = await ServerNode.StartAsync(NodeConfig.Build(NodeRole.Server, [.. quiet, ("port", "0"), ("downloads", Downloads("server")), State("server")]),
                system => consoles.Add(ConsoleOutput.Start(system, output, json: false, prefix: "[server] ")));
            var port = server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            // The clients are told the server's key fingerprint, as a person would be by the server's operator.
            var pin = ("tls.fingerprint", server.Fingerprint!);
            // A demo runs unattended: its clients accept what they are offered (as --yes does).
            var yes = ("transfer.auto-accept", "on");
            var alice = await ClientNode.StartAsync(NodeConfig.Build(NodeRole.Client, [.. quiet, ("port", port), ("name", "alice"), ("downloads", Downloads("alice")), State("alice"), pin, yes]),
                system => consoles.Add(ConsoleOutput.Start(system, output, json: false, prefix: "[alice]  ")));
            clients.Add(alice);
            var bobJoined = Expect<PeerJoined>(alice, e => e.Name == "bob", "alice sees bob join");
            var bob = await ClientNode.StartAsync(NodeConfig.Build(NodeRole.Client, [.. quiet, ("port", port), ("name", "bob"), ("downloads", Downloads("bob")), State("bob"), pin, yes]),
                system => consoles.Add(ConsoleOutput.Start(system, output, json: false, prefix: "[bob]    ")));
            clients.Add(bob);
            await bobJoined;
            await FlushAll(consoles);

            Task Step(string title, Action act, params Task[] expectations) => StepAsync(output, consoles, title, act, expectations);

            await Step("alice -> everyone", () => alice.Commands.Tell(new NodeCommands.Say("hello everyone, 你好 👋")),
                Expect<ChatReceived>(bob, c => c.From == "alice", "bob gets alice's broadcast"),
                Expect<ChatReceived>(server, c => c.From == "alice", "the server sees it too"));
            await Step("server -> everyone", () => server.Commands.Tell(new NodeCommands.Say("welcome to the demo")),
                Expect<ChatReceived>(alice, c => c.From == "server", "alice gets the server's broadcast"),
                Expect<ChatReceived>(bob, c => c.From == "server", "bob gets the server's broadcast"));
            await Step("server -> bob", () => server.Commands.Tell(new NodeCommands.SayTo("bob", "a word for bob only")),
                Expect<ChatReceived>(bob, c => c.From == "server" && c.To == "bob", "bob gets the server's direct message"));
            await Step("bob -> alice (relayed)", () => bob.Commands.Tell(new NodeCommands.SayTo("alice", "psst, alice")),
                Expect<ChatReceived>(alice, c => c.From == "bob" && c.To == "alice", "alice gets bob's direct message"));
            await Step("alice -> server", () => alice.Commands.Tell(new NodeCommands.SayTo("server", "thanks, server")),
                Expect<ChatReceived>(server, c => c.From == "alice" && c.To == "server", "the server gets alice's direct message"));
            await Step("bob: /who", () => bob.Commands.Tell(NodeCommands.Who.Instance),
                Expect<WhoListed>(bob, w => w.Names.Count == 3, "bob learns who is online"));

            var report = DemoFile(Path.Combine(work, "alice", "report.bin"), 256L << 20, 1);
            await Step("alice -> server: /send report.bin (256 MiB)", () => alice.Commands.Tell(new NodeCommands.SendFile(null, report)),
                Delivered(server, report, "report.bin"),
                Expect<TransferCompleted>(alice, c => c.File == "report.bin", "alice hears report.bin arrived"));
            var album = Path.Combine(work, "server", "album");
            var albumFiles = new[]
            {
                DemoFile(Path.Combine(album, "cover.jpg"), 3L << 20, 2),
                DemoFile(Path.Combine(album, "tracks", "01.flac"), 48L << 20, 3),
                DemoFile(Path.Combine(album, "tracks", "02.flac"), 40L << 20, 4),
                DemoFile(Path.Combine(album, "tracks", "list.txt"), 2_000, 5),
            };
            // Its small files travel together as one transfer ("album/"); the large ones each on their own.
            await Step("server -> bob: /send bob album (a folder)", () => server.Commands.Tell(new NodeCommands.SendFile("bob", album)),
                Delivered(bob, albumFiles[0], "album/", "cover.jpg"),
                Delivered(bob, albumFiles[3], "album/", "tracks/list.txt"),
                Delivered(bob, albumFiles[1], "album/tracks/01.flac"),
                Delivered(bob, albumFiles[2], "album/tracks/02.flac"),
                // The sender hears of each delivery too: both ends print how the folder ended before the next step.
                Expect<TransferCompleted>(server, c => c.File == "album/", "the server hears album/ arrived"),
                Expect<TransferCompleted>(server, c => c.File == "album/tracks/01.flac", "the server hears 01.flac arrived"),
                Expect<TransferCompleted>(server, c => c.File == "album/tracks/02.flac", "the server hears 02.flac arrived"));

            output.WriteLine("demo: every step arrived; every file matches its source's SHA-256");
            return ExitCodes.Ok;
        }
        catch (Exception e) when (e is TimeoutException or NodeStartException or ConfigException)
        {
            error.WriteLine($"akka-tcp-transfer demo: {e.Message}");
            return ExitCodes.Failure;
        }
        finally
        {
            foreach (var c in clients) await c.StopAsync();
            if (server is not null) await server.StopAsync();
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>A file of pseudo-random bytes (so that nothing compresses or dedups it away).</summary>
    private static string DemoFile(string path, long size, int seed)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var random = new Random(seed);
        var buffer = new byte[1 << 20];
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        for (var left = size; left > 0; left -= buffer.Length)
        {
            random.NextBytes(buffer);
            file.Write(buffer, 0, (int)Math.Min(buffer.Length, left));
        }
        return path;
    }

    /// <summary>Completes when <paramref name="receiver"/> has <paramref name="file"/> in place with the source's SHA-256
    /// (for a folder transfer, <paramref name="file"/> "album/": its file <paramref name="inFolder"/>).</summary>
    private static Task Delivered(NodeHost receiver, string source, string file, string? inFolder = null)
    {
        var expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(source)));
        var completed = new TaskCompletionSource<TransferCompleted>(TaskCreationOptions.RunContinuationsAsynchronously);
        var failed = receiver.System.Subscribe<TransferFailed>(f =>
        {
            if (f.File == file) completed.TrySetException(new TimeoutException($"{file} failed: {f.Reason}"));
        });
        var done = receiver.System.Subscribe<TransferCompleted>(c =>
        {
            if (c.File == file) completed.TrySetResult(c);
        });
        return Check();

        async Task Check()
        {
            try
            {
                var c = await completed.Task.WaitAsync(TransferTimeout);
                var path = inFolder is null ? c.Path : Path.Combine([c.Path, .. inFolder.Split('/')]);
                var onDisk = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));
                // A folder transfer's own hash is its digest (each file was checked against its own SHA-256 on arrival).
                if ((inFolder is null && c.Sha256 != expected) || onDisk != expected)
                    throw new TimeoutException($"{file}{inFolder} arrived with the wrong SHA-256");
            }
            finally
            {
                failed.Dispose();
                done.Dispose();
            }
        }
    }

    private static async Task StepAsync(TextWriter output, List<IActorRef> consoles, string title, Action act, Task[] expectations)
    {
        output.WriteLine($"---- {title}");
        act();
        await Task.WhenAll(expectations);
        await FlushAll(consoles);
    }

    /// <summary>Waits until every console has printed what it received, so a step's lines appear under its title.</summary>
    private static Task<ConsoleActor.Flushed[]> FlushAll(List<IActorRef> consoles) =>
        Task.WhenAll(consoles.Select(c => c.Ask<ConsoleActor.Flushed>(ConsoleActor.Flush.Instance, StepTimeout)));

    /// <summary>Subscribes now, completes when a matching event arrives, fails after a timeout.</summary>
    private static Task Expect<T>(NodeHost node, Func<T, bool> match, string what, TimeSpan? timeout = null) where T : NodeEvent
    {
        var limit = timeout ?? (typeof(T) == typeof(TransferCompleted) ? TransferTimeout : StepTimeout);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var subscription = node.System.Subscribe<T>(e =>
        {
            if (match(e)) done.TrySetResult();
        });
        return Wait();

        async Task Wait()
        {
            try
            {
                if (await Task.WhenAny(done.Task, Task.Delay(limit)) != done.Task)
                    throw new TimeoutException($"timed out waiting until {what}");
            }
            finally
            {
                subscription.Dispose();
            }
        }
    }
}
