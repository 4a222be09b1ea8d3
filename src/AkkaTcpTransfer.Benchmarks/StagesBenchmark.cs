using System.Diagnostics;
using System.Security.Cryptography;
using Akka.Actor;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>10. What each stage of the data path costs alone, in CPU seconds per GiB on one core of this machine, in
/// 64 KiB chunks as the product moves them: read, SHA-256, frame, TLS's cipher, hand-off between actors, decode,
/// write, fsync. Their sum per end is the budget the design needs; section 1 measures what each process really spends
/// (same run when both are chosen), and the difference is what the product adds beyond its stages (threads waking one
/// another, copies, allocation).</summary>
public static class StagesBenchmark
{
    private const string Section = "10. CPU budget per stage (alone, one thread, 64 KiB chunks)";
    private const int ChunkSize = 64 * 1024;
    /// <summary>Actor hand-offs a chunk takes at each end: sender, connection, the TCP connection's actor (sending);
    /// the TCP connection's actor, the connection, the owner's router into the receiver (receiving).</summary>
    private const int HandOffsPerEnd = 3;

    public static async Task Run(Bench bench, long bytes)
    {
        var chunks = (int)(bytes / ChunkSize);
        var gib = chunks * (double)ChunkSize / (1L << 30);
        var data = new byte[ChunkSize];
        RandomNumberGenerator.Fill(data);
        var file = Path.Combine(bench.WorkDir, "stages.bin");
        var stages = new Dictionary<string, double>();

        double PerGiB(Action work)
        {
            var process = Process.GetCurrentProcess();
            var before = process.TotalProcessorTime;
            work();
            process.Refresh();
            return (process.TotalProcessorTime - before).TotalSeconds / gib;
        }

        stages["write"] = PerGiB(() =>
        {
            using var handle = File.OpenHandle(file, FileMode.Create, FileAccess.Write);
            for (var i = 0; i < chunks; i++) RandomAccess.Write(handle, data, (long)i * ChunkSize);
        });
        var clock = Stopwatch.StartNew();
        stages["fsync"] = PerGiB(() =>
        {
            using var handle = File.OpenHandle(file, FileMode.Open, FileAccess.ReadWrite);
            RandomAccess.FlushToDisk(handle);
        });
        var fsyncSeconds = clock.Elapsed.TotalSeconds / gib;
        stages["read"] = PerGiB(() =>
        {
            using var handle = File.OpenHandle(file, FileMode.Open, FileAccess.Read);
            var buffer = new byte[ChunkSize];
            for (var i = 0; i < chunks; i++) RandomAccess.Read(handle, buffer, (long)i * ChunkSize);
        });
        File.Delete(file);
        stages["sha"] = PerGiB(() =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            for (var i = 0; i < chunks; i++) hash.AppendData(data);
            hash.GetHashAndReset();
        });
        stages["encode"] = PerGiB(() =>
        {
            for (var i = 0; i < chunks; i++) FrameEncoder.EncodeChunkHeader(1, (long)i * ChunkSize, ChunkSize);
        });
        var frame = FrameEncoder.Encode(new Chunk(1, 0, data));
        stages["decode"] = PerGiB(() =>
        {
            var decoder = new FrameDecoder(ProtocolLimits.AbsoluteMaxFrameLength, poolChunks: true);
            var frames = new List<Frame>();
            for (var i = 0; i < chunks; i++)
            {
                decoder.Decode(frame, frames);
                foreach (var f in frames) (f as Chunk)?.Release();
                frames.Clear();
            }
        });
        // TLS 1.3 as .NET negotiates it here: AES-256-GCM over records of 16 KiB.
        var key = RandomNumberGenerator.GetBytes(32);
        var nonce = new byte[12];
        var tag = new byte[16];
        var sealedRecord = new byte[16 * 1024];
        using (var aes = new AesGcm(key, 16))
        {
            stages["encrypt"] = PerGiB(() =>
            {
                for (var i = 0; i < chunks; i++)
                    for (var at = 0; at < ChunkSize; at += sealedRecord.Length)
                        aes.Encrypt(nonce, data.AsSpan(at, sealedRecord.Length), sealedRecord, tag);
            });
            aes.Encrypt(nonce, data.AsSpan(0, sealedRecord.Length), sealedRecord, tag);
            var opened = new byte[sealedRecord.Length];
            stages["decrypt"] = PerGiB(() =>
            {
                for (var i = 0; i < chunks * (ChunkSize / sealedRecord.Length); i++) aes.Decrypt(nonce, sealedRecord, tag, opened);
            });
        }
        stages["hand-off"] = await HandOff(chunks, data, gib);

        void Row(string name, string key, string note = "") => bench.Report.Add(Section, name, stages[key], "core-s/GiB", note);
        Row("read a file in the page cache", "read");
        Row("SHA-256", "sha", "paid once at each end");
        Row("frame a chunk (header only: the data is written from its own buffer)", "encode");
        Row("TLS: AES-256-GCM seal, 16 KiB records", "encrypt");
        Row("TLS: AES-256-GCM open, 16 KiB records", "decrypt");
        Row("decode a Chunk frame (pooled buffer)", "decode");
        Row("one actor hand-off (a message through a mailbox to another actor)", "hand-off", $"a chunk takes about {HandOffsPerEnd} at each end");
        Row("write into the page cache", "write");
        Row("fsync what was written", "fsync", $"{Report.Format(fsyncSeconds)} s/GiB waiting for the disk");
        var sender = stages["read"] + stages["sha"] + stages["encode"] + stages["encrypt"] + HandOffsPerEnd * stages["hand-off"];
        var receiver = stages["decrypt"] + stages["decode"] + HandOffsPerEnd * stages["hand-off"] + stages["write"] + stages["sha"] + stages["fsync"];
        bench.Report.Add(Section, "sender budget: read + SHA-256 + frame + seal + hand-offs", sender, "core-s/GiB", "TLS on");
        bench.Report.Add(Section, "receiver budget: open + decode + hand-offs + write + SHA-256 + fsync", receiver, "core-s/GiB", "TLS on");
        // Against what each process spent in section 1 (TLS), when it ran in this invocation.
        foreach (var (end, budget) in new[] { ("sender", sender), ("receiver", receiver) })
        {
            if (bench.Report.Rows.FirstOrDefault(r => r.Name == $"{end} CPU per GiB, TLS") is not { } measured) continue;
            bench.Report.Add(Section, $"{end}: measured in section 1 / budget", measured.Value / budget, "x",
                $"{Report.Format(measured.Value)} core-s/GiB spent; the rest is the kernel's socket work and what the product adds");
        }
    }

    /// <summary>CPU per GiB for one hop: 64 KiB messages (a reference each, as chunks travel) through two actors in turn.</summary>
    private static async Task<double> HandOff(int chunks, byte[] data, double gib)
    {
        using var system = ActorSystem.Create("stages", "akka.loglevel = WARNING");
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sink = system.ActorOf(Props.Create(() => new Counter(chunks, done)));
        var relay = system.ActorOf(Props.Create(() => new Relay(sink)));
        var process = Process.GetCurrentProcess();
        var before = process.TotalProcessorTime;
        for (var i = 0; i < chunks; i++) relay.Tell(data);
        await done.Task.WaitAsync(TimeSpan.FromMinutes(2));
        process.Refresh();
        var cpu = (process.TotalProcessorTime - before).TotalSeconds;
        await system.Terminate();
        return cpu / gib / 2;
    }

    private sealed class Relay : ReceiveActor
    {
        public Relay(IActorRef next) => ReceiveAny(m => next.Tell(m));
    }

    private sealed class Counter : ReceiveActor
    {
        public Counter(int expected, TaskCompletionSource done)
        {
            var seen = 0;
            ReceiveAny(_ =>
            {
                if (++seen == expected) done.TrySetResult();
            });
        }
    }
}
