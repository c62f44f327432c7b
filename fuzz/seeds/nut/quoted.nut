BEGIN LIST VAR ups
VAR ups ups.status "OL CHRG LB RB ALARM"
VAR ups ups.alarm "Replace battery! \"now\"\\"
VAR ups battery.charge "93.5"
VAR ups input.voltage "230"
END LIST VAR ups
OK Goodbye
