using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>8. A folder of many small files from a client process to a server process with default settings (TLS,
/// SHA-256, fsync), beside <c>tar c | TCP | tar x</c> and one sync in the same run, interleaved: what a user would
/// otherwise type to move a folder. The TCP leg of the baseline is a plain socket in this process (nc is not
/// everywhere); tar does the rest.</summary>
public static class SmallFilesBenchmark
{
    private const string Section = "8. many small files (a folder, client process -> server process)";

    public static async Task Run(Bench bench, IReadOnlyList<(int Files, int Size, double Target)> shapes, int runs)
    {
        var tar = Bench.Which("tar");
        foreach (var (files, size, target) in shapes)
        {
            var folder = MakeFolder(bench, files, size);
            var label = $"{files:N0} files of {Label(size)}";
            var ours = new List<double>();
            var baseline = new List<double>();
            // Every run lands in folders of its own, all removed only after the last run: ext4 makes each new file
            // look past the inodes deleted in the last half minute, so removing one run's thousands of files would
            // slow the next run's file creation (measured: tar x from about 20,000 files/s to 3,000).
            for (var run = 1; run <= runs; run++)
            {
                Console.Error.WriteLine($"small files: {label}, run {run}/{runs}");
                if (tar is not null)
                {
                    baseline.Add(await TarOverTcp(folder, files, bench.Dir($"small-tar-{files}-{run}")));
                    Bench.Sync();
                }
                ours.Add(await Ours(bench, folder, files, bench.Dir($"small-ours-{files}-{run}")));
                Bench.Sync();
            }
            for (var run = 1; run <= runs; run++)
            {
                Directory.Delete(Path.Combine(bench.WorkDir, $"small-tar-{files}-{run}"), recursive: true);
                Directory.Delete(Path.Combine(bench.WorkDir, $"small-ours-{files}-{run}"), recursive: true);
            }
            var oursRate = Stats.Median(ours);
            var mib = (double)files * size / 1048576.0;
            bench.Report.Add(Section, $"akka-tcp-transfer, {label}", oursRate, "files/s",
                $"{Report.Format(oursRate * mib / files)} MiB/s; median of {ours.Count}; default settings (TLS, fsync: per folder for a folder transfer)");
            if (tar is null)
            {
                bench.Report.Add(Section, $"ratio: akka-tcp-transfer / tar|tcp|tar, {label}", double.NaN, "x", "tar not installed");
                continue;
            }
            var tarRate = Stats.Median(baseline);
            bench.Report.Add(Section, $"tar c | TCP | tar x, then sync (baseline), {label}", tarRate, "files/s",
                $"{Report.Format(tarRate * mib / files)} MiB/s; median of {baseline.Count}");
            bench.Report.Add(Section, $"ratio: akka-tcp-transfer / tar|tcp|tar, {label}", oursRate / tarRate, "x", $"target >= {Report.Format(target)}");
        }
    }

    private static string Label(int size) => size >= 1 << 20 ? $"{size >> 20} MiB" : $"{size >> 10} KiB";

    /// <summary>Files of pseudo-random bytes in one folder, made once per shape.</summary>
    private static string MakeFolder(Bench bench, int files, int size)
    {
        var folder = Path.Combine(bench.WorkDir, $"small-{files}x{size}", "folder");
        if (Directory.Exists(folder) && Directory.GetFiles(folder).Length == files) return folder;
        Directory.CreateDirectory(folder);
        var bytes = new byte[size];
        for (var i = 0; i < files; i++)
        {
            RandomNumberGenerator.Fill(bytes);
            File.WriteAllBytes(Path.Combine(folder, $"f{i:D5}.bin"), bytes);
        }
        Bench.Sync();
        return folder;
    }

    /// <summary>Fresh server and client; from the /send of the folder to the server's last transfer-completed.</summary>
    private static async Task<double> Ours(Bench bench, string folder, int files, string downloads)
    {
        var (server, port) = await bench.StartServer(downloads);
        await using var _ = server;
        await using var client = await bench.StartClient(port, "sender", bench.Dir("small-client-downloads"));
        var landed = 0;
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // A folder's small files land as one transfer (or a few): each event says how many files it carried.
        using var counting = server.Subscribe("transfer-completed", e =>
        {
            if (Interlocked.Add(ref landed, e.GetProperty("files").GetInt32()) == files) all.TrySetResult();
        });
        using var failing = client.Subscribe("transfer-failed", e => all.TrySetException(new InvalidOperationException($"a file failed: {e}")));
        var clock = Stopwatch.StartNew();
        await client.SendLine($"/send \"{folder}\"");
        await all.Task.WaitAsync(Bench.LongWait);
        var seconds = clock.Elapsed.TotalSeconds;
        if (Directory.GetFiles(Path.Combine(downloads, Path.GetFileName(folder))).Length != files)
            throw new InvalidOperationException("not every file landed");
        await client.SendLine("/quit");
        await server.SendLine("/quit");
        await Task.WhenAll(client.WaitForExit(), server.WaitForExit());
        return files / seconds;
    }

    /// <summary><c>tar c</c> into a socket, the socket into <c>tar x</c>, then one sync: files per second.</summary>
    private static async Task<double> TarOverTcp(string folder, int files, string into)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var clock = Stopwatch.StartNew();
        using var extract = Process.Start(new ProcessStartInfo("tar", ["x", "-C", into]) { RedirectStandardInput = true })!;
        using var create = Process.Start(new ProcessStartInfo("tar", ["c", "-C", Path.GetDirectoryName(folder)!, Path.GetFileName(folder)])
        { RedirectStandardOutput = true })!;
        var receive = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync();
            await using var network = new NetworkStream(socket, ownsSocket: false);
            await network.CopyToAsync(extract.StandardInput.BaseStream, 1 << 16);
            extract.StandardInput.Close();
        });
        using (var client = new TcpClient())
        {
            await client.ConnectAsync(IPAddress.Loopback, port);
            await using var network = client.GetStream();
            await create.StandardOutput.BaseStream.CopyToAsync(network, 1 << 16);
            client.Client.Shutdown(SocketShutdown.Send);
            await receive.WaitAsync(Bench.LongWait);
        }
        using var cts = new CancellationTokenSource(Bench.LongWait);
        await Task.WhenAll(create.WaitForExitAsync(cts.Token), extract.WaitForExitAsync(cts.Token));
        Bench.Sync();
        var seconds = clock.Elapsed.TotalSeconds;
        if (create.ExitCode != 0 || extract.ExitCode != 0 || Directory.GetFiles(Path.Combine(into, Path.GetFileName(folder))).Length != files)
            throw new InvalidOperationException("tar did not copy the folder");
        return files / seconds;
    }
}
