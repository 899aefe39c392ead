// Soak test parts (bench/soak.sh runs them):
//   Soak serve PORT LEDGER           the library on 127.0.0.1:PORT with STARTTLS; one "sha256 size" line per delivery
//   Soak drive PORT SECONDS CLIENTS SENT DOUBT SEED
//                                    mixed traffic; one "sha256 size" line per message answered 250 (SENT), and per
//                                    message whose answer was lost to a broken connection after its end (DOUBT)
//   Soak reconcile SENT DELIVERED DOUBT
//                                    every message answered 250 delivered exactly once, nothing else delivered
using System.Globalization;
using Smtpd.Bench.Soak;

return args.FirstOrDefault() switch
{
    "serve" => await Host.RunAsync(int.Parse(args[1], CultureInfo.InvariantCulture), args[2]),
    "drive" => await Driver.RunAsync(
        int.Parse(args[1], CultureInfo.InvariantCulture), TimeSpan.FromSeconds(int.Parse(args[2], CultureInfo.InvariantCulture)),
        int.Parse(args[3], CultureInfo.InvariantCulture), args[4], args[5], int.Parse(args[6], CultureInfo.InvariantCulture)),
    "reconcile" => Reconciler.Run(args[1], args[2], args[3]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Soak serve PORT LEDGER | drive PORT SECONDS CLIENTS SENT DOUBT SEED | reconcile SENT DELIVERED DOUBT");
    return 2;
}
