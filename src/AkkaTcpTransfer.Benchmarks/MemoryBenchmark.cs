namespace AkkaTcpTransfer.Benchmarks;

/// <summary>2. Peak resident memory (VmHWM) of the sender and receiver processes for a small and a large file: the
/// design streams if the large file costs no more than the small one.</summary>
public static class MemoryBenchmark
{
    private const string Section = "2. peak memory (resident, whole process)";

    public static async Task Run(Bench bench, long small, long large)
    {
        var (smallSender, smallReceiver) = await Measure(bench, small);
        var (largeSender, largeReceiver) = await Measure(bench, large);
        string Label(long size) => size >= 1L << 30 ? $"{size / (double)(1L << 30):0.#} GiB" : $"{size / (double)(1L << 20):0.#} MiB";
        bench.Report.Add(Section, $"sender, {Label(small)} file", smallSender / 1048576.0, "MiB", "target <= 150");
        bench.Report.Add(Section, $"receiver, {Label(small)} file", smallReceiver / 1048576.0, "MiB", "target <= 150");
        bench.Report.Add(Section, $"sender, {Label(large)} file", largeSender / 1048576.0, "MiB", "target <= 150");
        bench.Report.Add(Section, $"receiver, {Label(large)} file", largeReceiver / 1048576.0, "MiB", "target <= 150");
        bench.Report.Add(Section, $"ratio sender {Label(large)} / {Label(small)}", largeSender / (double)smallSender, "x", "target <= 1.2");
        bench.Report.Add(Section, $"ratio receiver {Label(large)} / {Label(small)}", largeReceiver / (double)smallReceiver, "x", "target <= 1.2");
    }

    private static async Task<(long Sender, long Receiver)> Measure(Bench bench, long size)
    {
        var source = bench.SourceFile(size);
        Console.Error.WriteLine($"memory: {size >> 20} MiB");
        var (server, port) = await bench.StartServer(bench.Dir("server-downloads"), "--set", "transfer.sync-on-complete=off");
        await using (server)
        {
            await using var client = await bench.StartClient(port, "sender", bench.Dir("client-downloads"));
            await client.SendLine($"/send \"{source}\"");
            var done = await server.WaitFor("transfer-completed");
            await client.WaitFor("transfer-completed");
            var sender = client.PeakResidentBytes() ?? 0;
            var receiver = server.PeakResidentBytes() ?? 0;
            File.Delete(done.GetProperty("path").GetString()!);
            await client.SendLine("/quit");
            await server.SendLine("/quit");
            await Task.WhenAll(client.WaitForExit(), server.WaitForExit());
            Bench.Sync();
            return (sender, receiver);
        }
    }
}
