using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Akka.Actor;
using Akka.Persistence;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using Microsoft.Data.Sqlite;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>How big section 11 runs.</summary>
/// <param name="Messages">Round trips per measure (room line, direct message; idle, during an upload).</param>
/// <param name="FileSize">The file uploaded back to back while round trips are measured.</param>
/// <param name="StoreEvents">Events the store alone commits per variant.</param>
/// <param name="Clients">Raw clients saying lines, spread over <paramref name="Rooms"/> rooms.</param>
/// <param name="Lines">Lines they say in all: the database then holds this many.</param>
/// <param name="FirstMark">Lines stored when memory is first measured, and again at every multiple of it.</param>
/// <param name="Joins">Times a new client joins every room, each measured.</param>
/// <param name="Window">Seconds over which the slowest stretch of the crowd's rate is taken.</param>
/// <param name="Starts">Starts measured with the lines stored, and on an empty database.</param>
public sealed record HistoryScale(int Messages, long FileSize, long StoreEvents, int Clients, int Rooms, long Lines, long FirstMark, int Joins, int Window,
    int Starts)
{
    public static HistoryScale Smoke { get; } = new(20, 8L << 20, 2_000, 20, 10, 2_000, 200, 5, 1, 1);

    public static HistoryScale Full(int messages, long lines) =>
        new(messages, 256L << 20, 200_000, 100, 10, lines, Math.Max(1, lines / 10), 50, 10, 3);
}

/// <summary>11. Rooms and history: every line is journaled into the server's SQLite database before its sender hears
/// SayAck. Five measures, each beside a baseline from the same run: chat round trips on a server writing its database
/// beside the same server with Akka's in-memory journal instead (nothing written: the database's share of a round trip),
/// idle and while the sender's connection uploads; the store alone (journal, writer, SQLite, in this process, no network)
/// and a crowd of raw TLS clients saying lines in rooms through the server process, with its CPU per line; the server's
/// memory as the database grows tenfold; a new client joining every room, until all their scrollback is in; and the
/// server's start with all those lines stored beside its start on an empty database.</summary>
public static class HistoryBenchmark
{
    private const string Section = "11. rooms and history (SQLite database, server process)";

    private const string LatencyRoom = "#lat";

    /// <summary>The same server with Akka.Persistence's in-memory journal and snapshot store in place of the database.</summary>
    private static readonly string[] InMemoryJournal =
    [
        "--set", "akka.persistence.journal.plugin=akka.persistence.journal.inmem",
        "--set", "akka.persistence.snapshot-store.plugin=akka.persistence.snapshot-store.inmem",
    ];

    private static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);

    private static double MiB(long? bytes) => (bytes ?? 0) / 1048576.0;

    public static async Task Run(Bench bench, HistoryScale scale)
    {
        var ceiling = await StoreAlone(bench, scale.StoreEvents);
        await RoundTrips(bench, scale.Messages, scale.FileSize);
        await Crowd(bench, scale, ceiling);
    }

    // ---------------------------------------------------------------- the store alone

    /// <summary>The store's own ceiling: a server node in this process (its database opened and checked as always), its
    /// journal driven directly with events of a line's size, as rooms under load write them: 10 writers with batches of
    /// 100 (what 10 busy rooms hand the journal), and 100 writers of single events. Returns the first rate.</summary>
    private static async Task<double> StoreAlone(Bench bench, long events)
    {
        Console.Error.WriteLine($"history: the store alone, {N(events)} events per variant");
        var node = await ServerNode.StartAsync(NodeConfig.Build(NodeRole.Server,
        [
            ("port", "0"), ("state-dir", bench.Dir("history-store-alone")), ("downloads", bench.Dir("history-store-alone-downloads")),
            ("akka.loglevel", "ERROR"), ("akka.stdout-loglevel", "ERROR"), .. bench.Overrides,
        ]));
        try
        {
            var journal = Persistence.Instance.Apply(node.System).JournalFor(null);
            double first = double.NaN;
            foreach (var (lanes, batch) in new[] { (10, 100), (100, 1) })
            {
                await Drive(node.System, journal, $"warm-{lanes}-", lanes, batch, Math.Min(events, 5_000));
                var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var done = await Drive(node.System, journal, $"bench-{lanes}-", lanes, batch, events);
                var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
                var rate = done.Events / done.Elapsed.TotalSeconds;
                if (double.IsNaN(first)) first = rate;
                var what = $"{lanes} writers x {batch}-event writes";
                bench.Report.Add(Section, $"store alone: events committed per second, {what}", rate, "events/s",
                    $"journal + group-commit writer + SQLite in this process, no network; {N(done.Events)} events of 72 bytes");
                bench.Report.Add(Section, $"store alone: CPU per event, {what}", cpu / done.Events * 1e6, "core-us", "this whole process");
            }
            return first;
        }
        finally
        {
            await node.StopAsync();
        }
    }

    private static async Task<JournalLoadActor.Finished> Drive(ActorSystem system, IActorRef journal, string prefix, int lanes, int batch, long events)
    {
        var done = new TaskCompletionSource<JournalLoadActor.Finished>(TaskCreationOptions.RunContinuationsAsynchronously);
        system.ActorOf(JournalLoadActor.Props(journal, prefix, lanes, batch, events, 72, done));
        return await done.Task.WaitAsync(Bench.LongWait);
    }

    // ---------------------------------------------------------------- round trips

    private sealed record Pair(string Label, ClientNode A, ClientNode B);

    /// <summary>Round trips a -> server -> b over TLS, one at a time, as section 3 measures them: a line to a room both
    /// are in (journaled in the room) and a direct message (journaled in b's account), on a server writing its database
    /// and on the same server with an in-memory journal, interleaved in blocks; first idle, then while a uploads a file
    /// to the server over the very same connection.</summary>
    private static async Task RoundTrips(Bench bench, int messages, long fileSize)
    {
        Console.Error.WriteLine("history: chat round trips, with the database and with an in-memory journal");
        // One round trip after another, a thousand a second: the chat rate is raised for this, as in section 3.
        string[] fast = ["--set", "transfer.sync-on-complete=off", "--set", "chat.presence-limit=100000",
            "--set", "limits.chat-per-second=1000000", "--set", "limits.chat-burst=1000000"];
        var (stored, storedPort) = await bench.StartServer(bench.Dir("history-latency-db"), [.. fast, "--state-dir", bench.Dir("history-latency-db-state")]);
        await using (stored)
        {
            var (memory, memoryPort) = await bench.StartServer(bench.Dir("history-latency-memory"),
                [.. fast, .. InMemoryJournal, "--state-dir", bench.Dir("history-latency-memory-state")]);
            await using (memory)
            {
                using var removeStored = stored.Subscribe("transfer-completed", e => File.Delete(e.GetProperty("path").GetString()!));
                using var removeMemory = memory.Subscribe("transfer-completed", e => File.Delete(e.GetProperty("path").GetString()!));
                var nodes = new List<ClientNode>();
                try
                {
                    nodes.AddRange(await ChatBenchmarks.Connect(bench, storedPort, 2, bench.Dir("history-latency-clients-db")));
                    nodes.AddRange(await ChatBenchmarks.Connect(bench, memoryPort, 2, bench.Dir("history-latency-clients-memory")));
                    Pair[] pairs = [new("database", nodes[0], nodes[1]), new("memory", nodes[2], nodes[3])];
                    foreach (var node in nodes) await JoinRoom(node, LatencyRoom);
                    await MeasureRoundTrips(bench, pairs, messages, bench.SourceFile(fileSize));
                }
                finally
                {
                    await Task.WhenAll(nodes.Select(n => n.StopAsync()));
                }
            }
        }
    }

    private static async Task MeasureRoundTrips(Bench bench, Pair[] pairs, int messages, string source)
    {
        var blocks = Math.Clamp(messages / 100, 1, 10);
        var per = messages / blocks;
        var times = new Dictionary<string, List<double>>();
        List<double> Times(Pair p, string kind, string phase) =>
            times.TryGetValue($"{p.Label} {kind} {phase}", out var list) ? list : times[$"{p.Label} {kind} {phase}"] = [];
        foreach (var p in pairs)
        {
            await ChatBenchmarks.Measure(p.A, p.B, Math.Min(200, messages), LatencyRoom); // warm-up
            await ChatBenchmarks.Measure(p.A, p.B, Math.Min(200, messages));
        }
        for (var block = 0; block < blocks; block++)
        {
            foreach (var p in pairs)
            {
                Times(p, "room", "idle").AddRange(await ChatBenchmarks.Measure(p.A, p.B, per, LatencyRoom));
                Times(p, "direct", "idle").AddRange(await ChatBenchmarks.Measure(p.A, p.B, per));
            }
        }
        var rates = pairs.ToDictionary(p => p.Label, _ => new List<double>());
        for (var block = 0; block < blocks; block++)
        {
            foreach (var p in pairs)
            {
                Console.Error.WriteLine($"history: round trips during an upload, {p.Label}, block {block + 1}/{blocks}");
                var (room, direct, rate) = await DuringUpload(p, source, per);
                Times(p, "room", "upload").AddRange(room);
                Times(p, "direct", "upload").AddRange(direct);
                rates[p.Label].Add(rate);
            }
        }
        var (db, mem) = (pairs[0], pairs[1]);
        foreach (var (kind, kindLabel) in new[] { ("room", "room line"), ("direct", "direct message") })
        {
            foreach (var (phase, phaseLabel) in new[] { ("idle", "idle"), ("upload", "during an upload on the sender's connection") })
            {
                var with = Times(db, kind, phase);
                var without = Times(mem, kind, phase);
                var withP99 = Stats.Percentile(with, 99);
                var withoutP99 = Stats.Percentile(without, 99);
                bench.Report.Add(Section, $"chat round trip, {kindLabel}, {phaseLabel}: p99 with the database", withP99, "ms",
                    $"p50 {Report.Format(Stats.Median(with))} ms; {with.Count} lines");
                bench.Report.Add(Section, $"chat round trip, {kindLabel}, {phaseLabel}: p99 with an in-memory journal", withoutP99, "ms",
                    $"p50 {Report.Format(Stats.Median(without))} ms; the same server with nothing written to a database");
                bench.Report.Add(Section, $"ratio: {kindLabel} p99, database / in-memory journal, {phase}", withP99 / withoutP99, "x", "target <= 1.5");
            }
        }
        bench.Report.Add(Section, "upload rate on the sender's connection, database", Stats.Median(rates[db.Label]), "MiB/s",
            $"in-memory journal: {Report.Format(Stats.Median(rates[mem.Label]))} MiB/s; medians of {blocks} blocks, uploads back to back from before the round trips to after");
    }

    /// <summary>a uploads the file to the server back to back while the round trips are measured; then the upload on its
    /// way finishes. Returns the round trips and the rate of the uploads, from the first start to the last end (MiB/s).</summary>
    private static async Task<(List<double> Room, List<double> Direct, double Rate)> DuringUpload(Pair p, string source, int count)
    {
        using var stop = new CancellationTokenSource();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var over = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long moved = 0;
        var clock = new Stopwatch();
        using var onStart = p.A.System.Subscribe<TransferStarted>(_ =>
        {
            clock.Start();
            started.TrySetResult();
        });
        using var onDone = p.A.System.Subscribe<TransferCompleted>(c =>
        {
            Interlocked.Add(ref moved, c.Size);
            if (stop.IsCancellationRequested) over.TrySetResult();
            else p.A.Commands.Tell(new NodeCommands.SendFile(null, source));
        });
        using var onFail = p.A.System.Subscribe<TransferFailed>(f => over.TrySetException(new InvalidOperationException($"the upload failed: {f.Reason}")));
        p.A.Commands.Tell(new NodeCommands.SendFile(null, source));
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var room = await ChatBenchmarks.Measure(p.A, p.B, count, LatencyRoom);
        var direct = await ChatBenchmarks.Measure(p.A, p.B, count);
        await stop.CancelAsync();
        await over.Task.WaitAsync(Bench.LongWait);
        return (room, direct, Interlocked.Read(ref moved) / 1048576.0 / clock.Elapsed.TotalSeconds);
    }

    private static async Task JoinRoom(ClientNode node, string room)
    {
        var joined = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var onJoined = node.System.Subscribe<JoinedRoom>(j =>
        {
            if (string.Equals(j.Room, room, StringComparison.OrdinalIgnoreCase)) joined.TrySetResult();
        });
        using var onRefused = node.System.Subscribe<RoomRequestRefused>(r => joined.TrySetException(new InvalidOperationException($"{room}: {r.Reason}")));
        node.Commands.Tell(new NodeCommands.JoinRoom(room));
        await joined.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    // ---------------------------------------------------------------- the crowd, memory, joins, a restart

    /// <summary>One server process, its database in a folder of the run: a crowd of raw clients (10 to a room) saying
    /// lines until the database holds <see cref="HistoryScale.Lines"/>, the server's memory as they add up; new clients
    /// joining every room; then the server started again on that database (beside starts on an empty one), and a client
    /// joining every room as they recover.</summary>
    private static async Task Crowd(Bench bench, HistoryScale scale, double ceiling)
    {
        var state = bench.Dir("history-state");
        var downloads = bench.Dir("history-downloads");
        // The crowd says lines as fast as they are acknowledged, each line reaching the room's 9 other members: its
        // chat and fan-out rates are raised for this; every other setting is the default (history, rooms, store).
        string[] Settings(string stateDir) => ["--state-dir", stateDir, "--set", "limits.chat-per-second=1000000", "--set", "limits.chat-burst=1000000",
            "--set", "limits.fanout-per-second=100000000", "--set", "limits.fanout-burst=100000000",
            "--set", "connection.idle-timeout=300s", "--set", "server.handshake-timeout=60s"];
        var rooms = Enumerable.Range(0, scale.Rooms).Select(i => $"#r{i}").ToList();

        // The baseline start: an empty database, the server's identity made by a start before (as the full one's is).
        Console.Error.WriteLine("history: starts on an empty database");
        var emptyState = bench.Dir("history-empty-state");
        var (emptyStarts, emptyResident) = await Starts(bench, downloads, Settings(emptyState), "empty", scale.Starts + 1);
        emptyStarts.RemoveAt(0);

        Console.Error.WriteLine($"history: {scale.Clients} clients in {scale.Rooms} rooms say {N(scale.Lines)} lines");
        var talkers = new List<Talker>();
        try
        {
            var (server, port) = await bench.StartServer(downloads, Settings(state));
            await using (server)
            {
                using var gate = new SemaphoreSlim(16);
                await Task.WhenAll(Enumerable.Range(0, scale.Clients).Select(async i =>
                {
                    await gate.WaitAsync();
                    try
                    {
                        var talker = await Talker.JoinAsync(port, $"t{i}", WireClient.Loopback(i), rooms[i % rooms.Count]);
                        lock (talkers) talkers.Add(talker);
                    }
                    finally
                    {
                        gate.Release();
                    }
                }));
                await Fill(bench, scale, server, talkers, ceiling, Path.Combine(state, "chat.db"));
                await Joins(bench, port, rooms, scale.Joins);
                foreach (var t in talkers) await t.DisposeAsync();
                talkers.Clear();
                await server.SendLine("/quit");
                await server.WaitForExit();
            }
        }
        finally
        {
            foreach (var t in talkers) await t.DisposeAsync();
        }
        var file = Path.Combine(state, "chat.db");
        var storedLines = CountLines(file);
        bench.Report.Add(Section, "lines in the database, counted after the server stopped", storedLines, "lines",
            $"database file {Report.Format(MiB(new FileInfo(file).Length))} MiB; a room keeps its newest 100,000 (history.room-max-lines)");

        Console.Error.WriteLine($"history: starts with {N(storedLines)} lines stored");
        var (fullStarts, _) = await Starts(bench, downloads, Settings(state), "full", scale.Starts);
        bench.Report.Add(Section, "start on an empty database: process start -> a client connected", Stats.Median(emptyStarts), "s",
            $"dotnet start, database opened and checked, listening, TLS handshake, Welcome; {Times(emptyStarts)}");
        bench.Report.Add(Section, $"start with {N(storedLines)} lines stored: process start -> a client connected", Stats.Median(fullStarts), "s",
            $"target <= 2 s; {Times(fullStarts)}");
        bench.Report.Add(Section, "ratio: start with the lines stored / on an empty database", Stats.Median(fullStarts) / Stats.Median(emptyStarts), "x");

        // Once more, and now the rooms are used: each recovers on its first use.
        var (again, againPort) = await bench.StartServer(downloads, Settings(state));
        await using (again)
        {
            var cold = await JoinEvery(againPort, "cold", WireClient.Loopback(251), rooms, leave: false);
            var recovered = again.ResidentBytes() ?? 0;
            bench.Report.Add(Section, $"after a start, joining {rooms.Count} rooms as they recover: all scrollback in", cold.Ms, "ms",
                $"each room loads its snapshot and at most history.snapshot-every events; {cold.Lines} lines of history");
            bench.Report.Add(Section, "server memory (resident) after a start on an empty database, one client in", MiB(emptyResident), "MiB");
            bench.Report.Add(Section, $"server memory (resident) after a start with the lines stored, {rooms.Count} rooms loaded", MiB(recovered), "MiB",
                $"{Report.Format(recovered / (double)emptyResident)}x the empty start");
            await again.SendLine("/quit");
            await again.WaitForExit();
        }
    }

    private static string Times(List<double> seconds) =>
        $"{seconds.Count} starts: {string.Join(", ", seconds.Select(s => Report.Format(s)))} s";

    /// <summary>Starts the server <paramref name="count"/> times, one after another: seconds from process start to a
    /// raw client's Welcome, each time, and the server's resident memory the last time, that client in.</summary>
    private static async Task<(List<double> Seconds, long Resident)> Starts(Bench bench, string downloads, string[] settings, string probe, int count)
    {
        var seconds = new List<double>();
        long resident = 0;
        for (var i = 0; i < count; i++)
        {
            var clock = Stopwatch.StartNew();
            var (server, port) = await bench.StartServer(downloads, settings);
            await using (server)
            {
                using (await WireClient.JoinAsync(port, $"{probe}{i}", WireClient.Loopback(250)))
                {
                    seconds.Add(clock.Elapsed.TotalSeconds);
                    resident = server.ResidentBytes() ?? 0;
                }
                await server.SendLine("/quit");
                await server.WaitForExit();
            }
        }
        return (seconds, resident);
    }

    /// <summary>The crowd says lines until <see cref="HistoryScale.Lines"/> are acknowledged (each one stored first):
    /// the rate, its slowest stretch, the CPU per line of the server and of this process, what a line waited for its
    /// acknowledgement, and the server's memory at a tenth and at all of the lines.</summary>
    private static async Task Fill(Bench bench, HistoryScale scale, JsonEventProcess server, List<Talker> talkers, double ceiling, string database)
    {
        long Acked() => talkers.Sum(t => t.Acked);
        using var talking = new CancellationTokenSource();
        var serverCpu0 = server.CpuTime() ?? TimeSpan.Zero;
        var selfCpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var writers = talkers.Select(t => t.TalkAsync(talking.Token)).ToList();
        var samples = new List<(double Seconds, long Lines)> { (0, 0) };
        var marks = new List<(long Lines, long Resident, long Peak)>();
        double seconds, serverCpu, selfCpu;
        long lines, resident, peak;
        try
        {
            var stalledSince = clock.Elapsed;
            while (true)
            {
                await Task.Delay(100);
                var acked = Acked();
                if (acked > samples[^1].Lines) stalledSince = clock.Elapsed;
                samples.Add((clock.Elapsed.TotalSeconds, acked));
                if (acked >= scale.FirstMark * (marks.Count + 1)) marks.Add((acked, server.ResidentBytes() ?? 0, server.PeakResidentBytes() ?? 0));
                if (acked >= scale.Lines) break;
                if (clock.Elapsed - stalledSince > TimeSpan.FromSeconds(60))
                    throw new TimeoutException($"no line acknowledged for 60 s: {string.Join("; ", talkers.Select(t => t.Problem).OfType<string>().Distinct().Take(5))}");
                if (samples.Count % 100 == 0) Console.Error.WriteLine($"history: {N(acked)} lines stored");
            }
            seconds = clock.Elapsed.TotalSeconds;
            lines = Acked();
            serverCpu = ((server.CpuTime() ?? TimeSpan.Zero) - serverCpu0).TotalSeconds;
            selfCpu = (Process.GetCurrentProcess().TotalProcessorTime - selfCpu0).TotalSeconds;
            (resident, peak) = (server.ResidentBytes() ?? 0, server.PeakResidentBytes() ?? 0);
        }
        finally
        {
            await talking.CancelAsync();
            await Task.WhenAll(writers);
        }
        await Task.WhenAll(talkers.Select(t => t.DrainAsync())).WaitAsync(TimeSpan.FromSeconds(60));
        var rate = lines / seconds;
        var crowd = $"{talkers.Count} clients in {scale.Rooms} rooms over TLS";
        bench.Report.Add(Section, "lines journaled per second, sustained", rate, "lines/s",
            $"{crowd}; {N(lines)} lines in {Report.Format(seconds)} s; target >= 5,000 (stretch 10,000)");
        bench.Report.Add(Section, $"lines journaled per second, slowest {scale.Window} s", SlowestWindow(samples, scale.Window), "lines/s");
        bench.Report.Add(Section, "ratio: lines per second through the server / the store alone", rate / ceiling, "x",
            $"store alone, 10 writers x 100: {Report.Format(ceiling)} events/s");
        bench.Report.Add(Section, "server CPU per line", serverCpu / lines * 1e6, "core-us",
            $"the whole server process: TLS, sessions, rooms, journal, SQLite, {Report.Format(talkers.Count / (double)scale.Rooms - 1)} deliveries per line");
        bench.Report.Add(Section, "clients' CPU per line (this process, the same 2 cores)", selfCpu / lines * 1e6, "core-us",
            $"server and clients together used {Report.Format((serverCpu + selfCpu) / seconds)} of {Environment.ProcessorCount} cores");
        var deliveries = talkers.Sum(t => t.Delivered);
        bench.Report.Add(Section, "deliveries per second (each line to the other members online)", deliveries / seconds, "msg/s");
        var waits = talkers.SelectMany(t => t.AckMs).ToList();
        bench.Report.Add(Section, "a line's wait for its SayAck under this load: p50", Stats.Median(waits), "ms",
            $"p99 {Report.Format(Stats.Percentile(waits, 99))} ms; each client keeps {Talker.Window} lines unanswered at most");
        bench.Report.Add(Section, "lines refused", talkers.Sum(t => t.Refused), "lines", "should be 0");
        var (firstLines, firstResident, firstPeak) = marks.Count > 0 ? marks[0] : (lines, resident, peak);
        var wal = new FileInfo(database + "-wal") is { Exists: true } w ? w.Length : 0;
        bench.Report.Add(Section, $"server memory (resident) at {N(firstLines)} lines stored", MiB(firstResident), "MiB", "while the crowd talks");
        bench.Report.Add(Section, $"server memory (resident) at {N(lines)} lines stored", MiB(resident), "MiB",
            $"while the crowd talks; database {Report.Format(MiB(new FileInfo(database).Length))} MiB + write-ahead log {Report.Format(MiB(wal))} MiB");
        bench.Report.Add(Section, "ratio: resident memory, all lines / a tenth", resident / (double)firstResident, "x",
            $"target ~1 (flat); at each tenth: {string.Join(", ", marks.Select(m => Report.Format(MiB(m.Resident))))} MiB");
        bench.Report.Add(Section, "ratio: peak memory, all lines / a tenth", peak / (double)firstPeak, "x",
            $"peak {Report.Format(MiB(firstPeak))} MiB, then {Report.Format(MiB(peak))} MiB");
    }

    /// <summary>The lowest rate over any stretch of <paramref name="window"/> seconds (NaN when the run was shorter).</summary>
    private static double SlowestWindow(List<(double Seconds, long Lines)> samples, int window)
    {
        var slowest = double.NaN;
        var j = 0;
        for (var i = 0; i < samples.Count; i++)
        {
            while (j < samples.Count && samples[j].Seconds - samples[i].Seconds < window) j++;
            if (j == samples.Count) break;
            var rate = (samples[j].Lines - samples[i].Lines) / (samples[j].Seconds - samples[i].Seconds);
            slowest = double.IsNaN(slowest) ? rate : Math.Min(slowest, rate);
        }
        return slowest;
    }

    /// <summary>New clients, one after another, join every room at once (the rooms loaded, their members online): from
    /// sending the joins to the last room's end of scrollback; each leaves again, so the rooms stay as they were.</summary>
    private static async Task Joins(Bench bench, int port, List<string> rooms, int count)
    {
        Console.Error.WriteLine($"history: {count} clients join {rooms.Count} rooms");
        await JoinEvery(port, "warm", WireClient.Loopback(252), rooms, leave: true);
        var times = new List<double>();
        var lines = new List<double>();
        for (var i = 0; i < count; i++)
        {
            var (ms, got) = await JoinEvery(port, $"joiner{i}", WireClient.Loopback(i), rooms, leave: true);
            times.Add(ms);
            lines.Add(got);
        }
        var label = $"joining {rooms.Count} rooms (their scrollback)";
        bench.Report.Add(Section, $"{label}: all scrollback in, p50", Stats.Median(times), "ms", $"{count} new clients, one at a time, the rooms loaded");
        bench.Report.Add(Section, $"{label}: all scrollback in, p99", Stats.Percentile(times, 99), "ms", "target <= 100 ms (stretch 50)");
        bench.Report.Add(Section, $"{label}: history lines each client got", Stats.Median(lines), "lines", $"history.scrollback per room; least {lines.Min()}");
    }

    /// <summary>A new client <paramref name="name"/> sends a join for every room in one write and reads until each room's
    /// HistoryEnd: milliseconds from the write to the last of them (right after the last line), and how many History
    /// lines came. <paramref name="leave"/>: it then leaves each room and waits until it is out.</summary>
    private static async Task<(double Ms, int Lines)> JoinEvery(int port, string name, IPAddress from, List<string> rooms, bool leave)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var ct = timeout.Token;
        using var client = await WireClient.JoinAsync(port, name, from, ct: ct);
        // The server-wide room's scrollback follows every Welcome: read it first, so that the clock starts on a quiet connection.
        while (await client.NextAsync(ct) is not HistoryEnd { Target: "" })
        {
            // its History lines, presence
        }
        var pending = new HashSet<string>(rooms, StringComparer.OrdinalIgnoreCase);
        var joins = rooms.SelectMany(r => FrameEncoder.Encode(new Protocol.JoinRoom(r))).ToArray();
        var sent = Stopwatch.GetTimestamp();
        await client.SendRawAsync(joins, ct);
        var lines = 0;
        while (pending.Count > 0)
        {
            switch (await client.NextAsync(ct))
            {
                case History:
                    lines++;
                    break;
                case HistoryEnd end:
                    pending.Remove(end.Target);
                    break;
                case RoomRefused refused:
                    throw new InvalidOperationException($"{name}: {refused.Room} refused: {refused.Reason}");
            }
        }
        var ms = Stopwatch.GetElapsedTime(sent).TotalMilliseconds;
        if (leave)
        {
            await client.SendRawAsync(rooms.SelectMany(r => FrameEncoder.Encode(new LeaveRoom(r))).ToArray(), ct);
            var left = 0;
            while (left < rooms.Count)
            {
                if (await client.NextAsync(ct) is RoomLeft or RoomRefused) left++;
            }
        }
        return (ms, lines);
    }

    /// <summary>Lines (the events a room stores for a line: StoredEventSerializer's manifest "r1") in the database file,
    /// read while no server has it open.</summary>
    private static long CountLines(string file)
    {
        using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Mode = SqliteOpenMode.ReadWrite, Pooling = false }.ToString());
        db.Open();
        using var count = db.CreateCommand();
        count.CommandText = "SELECT COUNT(*) FROM attp_events WHERE manifest = 'r1' AND deleted = 0";
        return Convert.ToInt64(count.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    /// <summary>One of the crowd: a raw client in one room, saying lines as fast as the server acknowledges them, with at
    /// most <see cref="Window"/> unanswered; it reads everything the server sends it, from its join until it is disposed.</summary>
    private sealed class Talker : IAsyncDisposable
    {
        public const int Window = 4;

        private readonly WireClient _client;
        private readonly string _room;
        private readonly string _name;
        private readonly SemaphoreSlim _window = new(Window, Window);
        private readonly ConcurrentQueue<long> _sentAt = new();
        private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Task _reader;
        private long _sent;
        private long _acked;
        private long _refused;
        private long _delivered;
        private bool _stopping;

        private Talker(WireClient client, string name, string room)
        {
            _client = client;
            _name = name;
            _room = room;
            _reader = ReadAsync();
        }

        public long Acked => Interlocked.Read(ref _acked);

        public long Refused => Interlocked.Read(ref _refused);

        public long Delivered => Interlocked.Read(ref _delivered);

        /// <summary>Each acknowledged line's wait for its SayAck, in milliseconds (written by the reader only).</summary>
        public List<double> AckMs { get; } = [];

        /// <summary>Why the server refused a line or closed the connection, if it did.</summary>
        public string? Problem { get; private set; }

        private long Outstanding => Interlocked.Read(ref _sent) - Acked - Refused;

        public static async Task<Talker> JoinAsync(int port, string name, IPAddress from, string room)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var client = await WireClient.JoinAsync(port, name, from, ct: timeout.Token);
            try
            {
                await client.SendAsync(new Protocol.JoinRoom(room), timeout.Token);
                while (true)
                {
                    switch (await client.NextAsync(timeout.Token))
                    {
                        case HistoryEnd end when string.Equals(end.Target, room, StringComparison.OrdinalIgnoreCase):
                            return new Talker(client, name, end.Target);
                        case RoomRefused refused:
                            throw new InvalidOperationException($"{name}: {room} refused: {refused.Reason}");
                    }
                }
            }
            catch
            {
                client.Dispose();
                throw;
            }
        }

        /// <summary>Reads until the connection ends: acknowledgements free the window, lines of the room are counted.</summary>
        private async Task ReadAsync()
        {
            try
            {
                while (true)
                {
                    var frame = await _client.NextAsync();
                    switch (frame)
                    {
                        case SayAck:
                            if (_sentAt.TryDequeue(out var at)) AckMs.Add(Stopwatch.GetElapsedTime(at).TotalMilliseconds);
                            Interlocked.Increment(ref _acked);
                            Answered();
                            break;
                        case SayRefused refused:
                            _sentAt.TryDequeue(out _);
                            Problem = $"{_name}: a line refused: {refused.Reason}";
                            Interlocked.Increment(ref _refused);
                            Answered();
                            break;
                        case Protocol.Chat chat when chat.To == _room:
                            Interlocked.Increment(ref _delivered);
                            break;
                        case Goodbye goodbye:
                            Problem = $"{_name}: the server said goodbye: {goodbye.Reason}";
                            return;
                    }
                }
            }
            catch (Exception e) when (e is EndOfStreamException or IOException or ObjectDisposedException or OperationCanceledException)
            {
                Problem ??= $"{_name}: connection closed ({e.Message})";
            }
        }

        private void Answered()
        {
            _window.Release();
            if (Volatile.Read(ref _stopping) && Outstanding == 0) _drained.TrySetResult();
        }

        /// <summary>Says lines until <paramref name="stop"/>: whenever the window has room, as many as fit, in one write.</summary>
        public async Task TalkAsync(CancellationToken stop)
        {
            var buffer = new List<byte>(Window * 96);
            try
            {
                while (true)
                {
                    await _window.WaitAsync(stop);
                    var count = 1;
                    while (count < Window && _window.Wait(0, CancellationToken.None)) count++;
                    buffer.Clear();
                    for (var i = 0; i < count; i++)
                    {
                        var id = (uint)Interlocked.Increment(ref _sent);
                        buffer.AddRange(FrameEncoder.Encode(new Say(id, _room, $"{_name} says line {id}, as people do in a busy room")));
                        _sentAt.Enqueue(Stopwatch.GetTimestamp());
                    }
                    await _client.SendRawAsync(buffer.ToArray(), CancellationToken.None);
                }
            }
            catch (OperationCanceledException)
            {
                // stopped
            }
        }

        /// <summary>Completes once every line said has been answered (call after <see cref="TalkAsync"/> has ended).</summary>
        public Task DrainAsync()
        {
            Volatile.Write(ref _stopping, true);
            if (Outstanding == 0) _drained.TrySetResult();
            return _drained.Task;
        }

        public async ValueTask DisposeAsync()
        {
            _client.Dispose();
            await _reader;
            _window.Dispose();
        }
    }
}
