using System.Diagnostics;
using System.Net.Sockets;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>scp as a baseline: an sshd of the benchmark's own on 127.0.0.1 (a free port, host and user keys made for
/// the run, logging in as the current user with its key only), and scp with AES-128-GCM copying the file to a file
/// through it. Needs OpenSSH's sshd and scp (Debian: openssh-server, openssh-client); without them there is no scp
/// baseline and the report says so.</summary>
internal sealed class ScpBaseline : IDisposable
{
    private readonly Process _sshd;
    private readonly string _dir;
    private readonly int _port;

    private ScpBaseline(Process sshd, string dir, int port)
    {
        _sshd = sshd;
        _dir = dir;
        _port = port;
    }

    /// <summary>Why there is no scp baseline here, or null when there can be one.</summary>
    public static string? Missing()
    {
        if (OperatingSystem.IsWindows()) return "not on Windows";
        if (!File.Exists("/usr/sbin/sshd") && Bench.Which("sshd") is null) return "sshd not installed (apt-get install openssh-server)";
        if (Bench.Which("scp") is null || Bench.Which("ssh-keygen") is null) return "scp not installed (apt-get install openssh-client)";
        return null;
    }

    public static async Task<ScpBaseline> Start(Bench bench)
    {
        var dir = bench.Dir("scp");
        foreach (var key in new[] { "host", "user" })
            Run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", Path.Combine(dir, key));
        File.Copy(Path.Combine(dir, "user.pub"), Path.Combine(dir, "authorized"));
        // sshd running as root wants its privilege separation folder.
        if (Environment.UserName == "root") Directory.CreateDirectory("/run/sshd");
        var port = Bench.FreePort();
        File.WriteAllLines(Path.Combine(dir, "sshd_config"),
        [
            $"Port {port}", "ListenAddress 127.0.0.1", $"HostKey {Path.Combine(dir, "host")}",
            $"AuthorizedKeysFile {Path.Combine(dir, "authorized")}", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no", $"PidFile {Path.Combine(dir, "sshd.pid")}",
            "Subsystem sftp internal-sftp",
        ]);
        var sshd = Process.Start(new ProcessStartInfo(File.Exists("/usr/sbin/sshd") ? "/usr/sbin/sshd" : "sshd",
            ["-D", "-e", "-f", Path.Combine(dir, "sshd_config")]) { RedirectStandardError = true, UseShellExecute = false })!;
        _ = sshd.StandardError.ReadToEndAsync();
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync("127.0.0.1", port);
                break;
            }
            catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(10) && !sshd.HasExited)
            {
                await Task.Delay(20);
            }
        }
        return new ScpBaseline(sshd, dir, port);
    }

    /// <summary>Copies <paramref name="source"/> to a file through sshd; seconds taken.</summary>
    public async Task<double> Copy(string source, long size)
    {
        var output = Path.Combine(_dir, "out.bin");
        File.Delete(output);
        var clock = Stopwatch.StartNew();
        using var scp = Process.Start(new ProcessStartInfo("scp",
        [
            "-q", "-c", "aes128-gcm@openssh.com", "-P", Bench.I(_port), "-i", Path.Combine(_dir, "user"),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
            source, $"{Environment.UserName}@127.0.0.1:{output}",
        ]) { RedirectStandardError = true, UseShellExecute = false })!;
        var errors = scp.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(Bench.LongWait);
        await scp.WaitForExitAsync(cts.Token);
        var seconds = clock.Elapsed.TotalSeconds;
        if (scp.ExitCode != 0 || new FileInfo(output).Length != size)
            throw new InvalidOperationException($"scp failed (exit {scp.ExitCode}): {(await errors).Trim()}");
        return seconds;
    }

    private static void Run(string program, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(program, args) { UseShellExecute = false })!;
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{program} failed with exit code {p.ExitCode}");
    }

    public void Dispose()
    {
        try
        {
            _sshd.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        _sshd.Dispose();
    }
}
